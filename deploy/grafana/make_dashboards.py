#!/usr/bin/env python3
"""Write GridEdge's Grafana dashboards (deploy/grafana/dashboards/*.json) with the limits of a rule file drawn.

    python deploy/grafana/make_dashboards.py                          # limits from config/rules.yaml
    python deploy/grafana/make_dashboards.py --rules /etc/gridedge/rules.yaml --out DIR

Every panel and variable is raw InfluxQL on the `gridedge-influxql` datasource (provisioning/datasources);
tests/test_grafana_dashboards.py runs each query against a real InfluxDB 1.x fed by the real gateway.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATASOURCE = {"type": "influxdb", "uid": "gridedge-influxql"}
GRID_FILTER = (
    '"district" =~ /^$district$/ AND "street" =~ /^$street$/ AND "community" =~ /^$community$/ '
    'AND "grid" =~ /^$grid$/'
)
COLORS = {"info": "blue", "warning": "orange", "major": "dark-orange", "critical": "red"}
Json = dict[str, Any]


# -- building blocks ----------------------------------------------------------------------------------


def variable(name: str, label: str, query: str, *, all_any: bool = True) -> Json:
    """A multi-value query variable (queries compare with =~ /^$name$/); "All" is the regex .* when
    `all_any`, else the alternation of every value (what annotations filtering by it need)."""
    out: Json = {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE, "query": query,
        "definition": query, "refresh": 2, "multi": True, "includeAll": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "sort": 1, "hide": 0,
    }  # fmt: skip
    if all_any:
        out["allValue"] = ".*"
    return out


def grid_variables(measurement: str | None = None) -> list[Json]:
    """区 → 街道 → 社区 → 网格, each level narrowed by the one above it."""
    source = f'FROM "{measurement}" ' if measurement else ""
    return [
        variable("district", "区 district", f'SHOW TAG VALUES {source}WITH KEY = "district"'),
        variable("street", "街道 street",
                 f'SHOW TAG VALUES {source}WITH KEY = "street" WHERE "district" =~ /^$district$/'),
        variable("community", "社区 community",
                 f'SHOW TAG VALUES {source}WITH KEY = "community" WHERE "street" =~ /^$street$/'),
        variable("grid", "网格 grid", f'SHOW TAG VALUES {source}WITH KEY = "grid" WHERE "community" =~ /^$community$/'),
    ]  # fmt: skip


def thresholds(levels: list[tuple[float, str]]) -> Json:
    """Grafana threshold steps: green below the first level, then each level's severity colour."""
    steps: list[Json] = [{"color": "green", "value": None}]
    steps += [{"color": COLORS.get(severity, "red"), "value": value} for value, severity in sorted(levels)]
    return {"mode": "absolute", "steps": steps}


def target(query: str, alias: str = "", ref: str = "A", fmt: str = "time_series") -> Json:
    """A raw InfluxQL query."""
    return {"refId": ref, "datasource": DATASOURCE, "query": query, "rawQuery": True, "resultFormat": fmt,
            "alias": alias}  # fmt: skip


def panel(title: str, queries: list[Json], *, kind: str = "timeseries", unit: str = "short",
          levels: list[tuple[float, str]] | None = None, description: str = "") -> Json:  # fmt: skip
    """A panel; `levels` are drawn as threshold lines and areas."""
    defaults: Json = {"unit": unit, "custom": {}}
    if levels:
        defaults["thresholds"] = thresholds(levels)
        if kind == "timeseries":
            defaults["custom"]["thresholdsStyle"] = {"mode": "line+area"}
    return {"type": kind, "title": title, "description": description, "datasource": DATASOURCE,
            "targets": queries, "fieldConfig": {"defaults": defaults, "overrides": []}, "options": {}}  # fmt: skip


def incident_annotations(where: str = "") -> Json:
    """Incidents (measurement `incident`, one point per event) as annotations."""
    query = (
        'SELECT "title", "reason", "incident_id" FROM "incident" WHERE $timeFilter'
        + (f" AND {where}" if where else "")
        + ' GROUP BY "event", "severity", "rule"'
    )
    return {"name": "Incidents 事件", "datasource": DATASOURCE, "enable": True, "iconColor": "red",
            "query": query, "textColumn": "title", "tagsColumn": "event,severity,rule"}  # fmt: skip


def dashboard(uid: str, title: str, panels: list[Json], variables: list[Json], annotations: list[Json]) -> Json:
    """A dashboard: panels laid out two per row, 8 units high."""
    for index, item in enumerate(panels):
        item["id"] = index + 1
        width = 24 if item["type"] == "table" else 12
        item["gridPos"] = {"h": 8, "w": width, "x": 0 if width == 24 else 12 * (index % 2), "y": 8 * (index // 2)}
    return {
        "uid": uid, "title": title, "tags": ["gridedge"], "timezone": "browser", "schemaVersion": 39,
        "editable": False, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables}, "annotations": {"list": annotations}, "panels": panels,
    }  # fmt: skip


# -- the limits of a rule file ------------------------------------------------------------------------


def rule_levels(rules: Json, rule_id: str) -> list[tuple[float, str]]:
    """(set value, severity) of each level of one rule; empty when the rule file has no such rule."""
    for rule in rules.get("rules", []):
        if rule.get("id") == rule_id:
            return [(float(level["set"]), str(level["severity"])) for level in rule.get("levels", [])]
    return []


# -- the dashboards -----------------------------------------------------------------------------------


def overview() -> Json:
    """Sensor overview by grid level."""
    by_grid = f"WHERE {GRID_FILTER} AND $timeFilter"
    panels = [
        panel("PM10 by grid 网格 (µg/m³)", [target(
            f'SELECT mean("pm10") FROM "dust" {by_grid} GROUP BY time($__interval), "grid" fill(none)', "$tag_grid")],
            unit="conmicgm3"),
        panel("Water level by grid 网格 (m)", [target(
            f'SELECT mean("level") FROM "water" {by_grid} GROUP BY time($__interval), "grid" fill(none)', "$tag_grid")],
            unit="lengthm"),
        panel("Fire alarms 火警", [target(
            f'SELECT max("alarm") FROM "fire" {by_grid} GROUP BY time($__interval), "device" fill(none)',
            "$tag_device")]),
        panel("Incidents opened by grid 网格", [target(
            f'SELECT count("revision") FROM "incident" WHERE "event" = \'opened\' AND {GRID_FILTER} AND $timeFilter '
            'GROUP BY time($__interval), "grid" fill(none)', "$tag_grid")], kind="barchart"),
        panel("Latest dust readings per device", [target(
            f'SELECT last("pm10") AS "pm10", last("pm25") AS "pm25" FROM "dust" {by_grid} GROUP BY "device", "grid"',
            fmt="table")], kind="table"),
    ]  # fmt: skip
    return dashboard("gridedge-overview", "GridEdge · sensors by grid 网格总览", panels, grid_variables(),
                     [incident_annotations(GRID_FILTER)])  # fmt: skip


def dust(rules: Json) -> Json:
    """Dust per site, with the rule file's PM10 and PM2.5 limits."""
    where = 'WHERE "site" =~ /^$site$/ AND "device" =~ /^$device$/ AND $timeFilter'
    variables = [
        variable("site", "工地 site", 'SHOW TAG VALUES FROM "dust" WITH KEY = "site"'),
        variable("device", "设备 device", 'SHOW TAG VALUES FROM "dust" WITH KEY = "device" WHERE "site" =~ /^$site$/',
                 all_any=False),
    ]
    pm10 = rule_levels(rules, "dust-pm10-1h")
    pm25 = rule_levels(rules, "dust-pm25-24h")
    panels = [
        panel("PM10 1 h average per site (rule dust-pm10-1h limits)", [target(
            f'SELECT mean("pm10") FROM "dust" {where} GROUP BY time(1h), "site" fill(none)', "$tag_site")],
            unit="conmicgm3", levels=pm10, description="The rule compares the 1 h average with these limits."),
        panel("PM10 per device", [target(
            f'SELECT mean("pm10") FROM "dust" {where} GROUP BY time($__interval), "device" fill(none)',
            "$tag_device")], unit="conmicgm3", levels=pm10),
        panel("PM2.5 per device (rule dust-pm25-24h limits, 24 h average)", [target(
            f'SELECT mean("pm25") FROM "dust" {where} GROUP BY time($__interval), "device" fill(none)',
            "$tag_device")], unit="conmicgm3", levels=pm25),
        panel("Noise per device dB(A)", [target(
            f'SELECT mean("noise") FROM "dust" {where} GROUP BY time($__interval), "device" fill(none)',
            "$tag_device")], unit="dB"),
        panel("Latest per device", [target(
            f'SELECT last("pm10") AS "pm10", last("pm25") AS "pm25", last("noise") AS "noise" FROM "dust" {where} '
            'GROUP BY "site", "device"', fmt="table")], kind="table", levels=pm10),
    ]  # fmt: skip
    return dashboard("gridedge-dust", "GridEdge · dust per site 工地扬尘", panels, variables,
                     [incident_annotations('"subject" =~ /^$device$/')])  # fmt: skip


def water(rules: Json) -> Json:
    """Water levels with the warning (警戒) and guaranteed (保证) levels, and the rise rate."""
    where = f'WHERE {GRID_FILTER} AND "device" =~ /^$device$/ AND $timeFilter'
    variables = [*grid_variables("water"), variable(
        "device", "设备 device", 'SHOW TAG VALUES FROM "water" WITH KEY = "device" WHERE "grid" =~ /^$grid$/',
        all_any=False)]
    panels = [
        panel("Water level per station (m)", [target(
            f'SELECT mean("level") FROM "water" {where} GROUP BY time($__interval), "device" fill(none)',
            "$tag_device")], unit="lengthm", levels=rule_levels(rules, "water-warning-level"),
            description="Threshold lines: the water-warning-level rule (警戒水位, 保证水位)."),
        panel("Rise per hour (m/h)", [target(
            f'SELECT derivative(mean("level"), 1h) FROM "water" {where} GROUP BY time($__interval), "device" '
            'fill(none)', "$tag_device")], unit="short", levels=rule_levels(rules, "water-rise")),
        panel("Latest level per station", [target(
            f'SELECT last("level") AS "level" FROM "water" {where} GROUP BY "device", "grid"', fmt="table")],
            kind="table", levels=rule_levels(rules, "water-warning-level")),
    ]  # fmt: skip
    return dashboard("gridedge-water", "GridEdge · water levels 水位", panels, variables,
                     [incident_annotations('"subject" =~ /^$device$/')])  # fmt: skip


def health() -> Json:
    """The gateway itself: ingest, rejects, journal, InfluxDB writer, dispatch, process."""
    where = 'WHERE "gateway" =~ /^$gateway$/ AND $timeFilter'

    def series(title: str, select: str, unit: str = "short", kind: str = "timeseries") -> Json:
        query = f'SELECT {select} FROM "gridedge" {where} GROUP BY time($__interval), "gateway" fill(none)'
        return panel(title, [target(query, "$col $tag_gateway")], unit=unit, kind=kind)

    panels = [
        series("Accepted and rejected per second",
               'non_negative_derivative(last("accepted"), 1s) AS "accepted", '
               'non_negative_derivative(last("rejected"), 1s) AS "rejected"', "rps"),
        series("Rejected by reason (total)", 'last(/^rejected_/)'),
        series("Journal: queued and InfluxDB backlog (readings)",
               'last("journal_queued") AS "queued", last("influx_depth") AS "influx_depth"'),
        series("Journal size", 'last("journal_bytes") AS "bytes"', "bytes"),
        series("Journal full / MQTT connected", 'last("journal_full") AS "full", last("mqtt_connected") AS "mqtt"',
               kind="state-timeline"),
        series("Dispatch backlog (undelivered incident events)", 'last("dispatch_backlog") AS "backlog"'),
        series("Dispatch retries and dead letters (total)", 'last(/^dispatch_(retries|dead_letters|delivered)$/)'),
        series("InfluxDB writer: points written per second",
               'non_negative_derivative(last("influx_points_written"), 1s) AS "points"', "rps"),
        series("InfluxDB writer: lag (s) and write latency p99 (ms)",
               'last("influx_lag_seconds") AS "lag_s", last("influx_latency_p99_ms") AS "p99_ms"'),
        series("Process: RSS and CPU", 'last("rss_bytes") AS "rss"', "bytes"),
        series("Process CPU (cores)", 'non_negative_derivative(last("cpu_seconds"), 1s) AS "cpu"', "percentunit"),
        series("Incidents open", 'last("incidents_open") AS "open"'),
    ]  # fmt: skip
    variables = [variable("gateway", "Gateway", 'SHOW TAG VALUES FROM "gridedge" WITH KEY = "gateway"')]
    return dashboard("gridedge-health", "GridEdge · gateway health 网关运行", panels, variables,
                     [incident_annotations()])  # fmt: skip


def build_all(rules: Json) -> dict[str, Json]:
    """Every dashboard by file name."""
    return {"overview.json": overview(), "dust.json": dust(rules), "water.json": water(rules),
            "health.json": health()}  # fmt: skip


def render(board: Json) -> str:
    """The JSON text as committed (stable, readable diffs)."""
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rules", type=Path, default=REPO / "config" / "rules.yaml")
    parser.add_argument("--out", type=Path, default=HERE / "dashboards")
    args = parser.parse_args(argv)
    rules = yaml.safe_load(args.rules.read_text(encoding="utf-8")) or {}
    args.out.mkdir(parents=True, exist_ok=True)
    for name, board in build_all(rules).items():
        (args.out / name).write_text(render(board), encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
