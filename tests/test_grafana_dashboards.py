"""Grafana provisioning and dashboards: in sync with their generator, wired to the provisioned datasources,
and every InfluxQL variable, panel and annotation query returns series from a real InfluxDB 1.x that the
real gateway filled (readings, rejects, an incident, its own metrics, a dispatch backlog)."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from tests.gateway_proc import GatewayProcess, cells, write_config
from tests.servers import InfluxDB1, Mosquitto, free_port, wait_for
from tests.test_e2e import publisher, wait_subscribed
from tests.test_rules_live import keep_sending, rules_config

REPO = Path(__file__).resolve().parents[1]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
HOOK_KEY = "whsec_" + base64.b64encode(b"gridedge-test-signing-key-32byte").decode()
TIME_FILTER = "time > now() - 1h"
WATER_RULE = """
  - id: water-high
    kind: threshold
    event_type: "500104"
    select: {kind: water}
    field: level
    levels: [{severity: major, set: 4.3, clear: 4.0}]
"""
"""Appended to the rules of tests/test_rules_live.py: the fed water levels (4.0 to 4.5 m) open it."""
INTERVAL = "10s"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_dashboards", GRAFANA / "make_dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def datasources() -> list[dict[str, Any]]:
    data = yaml.safe_load((GRAFANA / "provisioning/datasources/gridedge.yaml").read_text())
    return list(data["datasources"])


def queries_of(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, InfluxQL) of every panel target and annotation of a dashboard."""
    out = [(f"panel {p['title']!r}", t["query"]) for p in board["panels"] for t in p["targets"]]
    out += [(f"annotation {a['name']!r}", a["query"]) for a in board["annotations"]["list"]]
    return out


# -- files -----------------------------------------------------------------------------------------------


def test_dashboards_match_their_generator_and_the_rule_limits() -> None:
    make = generator()
    rules = yaml.safe_load((REPO / "config/rules.yaml").read_text(encoding="utf-8"))
    built = make.build_all(rules)
    assert sorted(built) == [path.name for path in DASHBOARDS]
    for path in DASHBOARDS:
        assert path.read_text(encoding="utf-8") == make.render(built[path.name]), (
            f"{path.name} is stale: run python deploy/grafana/make_dashboards.py"
        )
    dust = load(GRAFANA / "dashboards/dust.json")
    steps = dust["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in steps] == [(None, "green"), (150.0, "orange"), (250.0, "red")]
    water = load(GRAFANA / "dashboards/water.json")
    steps = water["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 4.5, 5.2]


def test_provisioning_has_influxql_and_flux_datasources_and_the_dashboards_use_them() -> None:
    sources = {source["uid"]: source for source in datasources()}
    assert sources["gridedge-influxql"]["jsonData"]["dbName"] == "gridedge"
    assert sources["gridedge-flux"]["jsonData"]["version"] == "Flux"
    for source in sources.values():
        assert all("${" in str(v) for v in source.get("secureJsonData", {}).values()), "secrets come from env"
    uids = set()
    for path in DASHBOARDS:
        board = load(path)
        uids.add(board["uid"])
        items = [*board["panels"], *board["templating"]["list"], *board["annotations"]["list"]]
        items += [t for p in board["panels"] for t in p["targets"]]
        assert {item["datasource"]["uid"] for item in items} == {"gridedge-influxql"}, path.name
        assert all(t["rawQuery"] for p in board["panels"] for t in p["targets"])
    assert len(uids) == len(DASHBOARDS)


def test_dashboard_provider_reads_what_compose_mounts() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/gridedge.yaml").read_text())["providers"][0]
    mounts = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


# -- every query against the real InfluxDB 1.x ---------------------------------------------------------


def substitute(query: str, values: dict[str, str]) -> str:
    """What Grafana sends: $timeFilter, $__interval and each variable's regex (".*" is "All")."""
    query = query.replace("$timeFilter", TIME_FILTER).replace("$__interval", INTERVAL)
    return re.sub(r"\$(\w+)", lambda m: values[m[1]], query)


def rows(influx: InfluxDB1, query: str) -> list[list[Any]]:
    """The value rows of every series a query returns."""
    out: list[list[Any]] = []
    for series in influx.query(query, db="gridedge"):
        values = series["values"]
        assert isinstance(values, list)
        out += values
    return out


def tag_values(influx: InfluxDB1, query: str) -> list[str]:
    return [str(row[1]) for row in rows(influx, query)]


def check_dashboard(influx: InfluxDB1, board: dict[str, Any]) -> list[str]:
    """Problems of one dashboard: a variable without values, a query that errors or returns no series."""
    problems: list[str] = []
    everything: dict[str, str] = {}
    picked: dict[str, str] = {}
    for var in board["templating"]["list"]:  # each level narrowed by the value picked above it
        all_values = tag_values(influx, substitute(var["query"], everything))
        everything[var["name"]] = var.get("allValue") or "(" + "|".join(map(re.escape, all_values)) + ")"
        values = tag_values(influx, substitute(var["query"], {**everything, **picked}))
        if not values:
            problems.append(f"{board['uid']}: variable {var['name']} has no values")
            continue
        picked[var["name"]] = re.escape(values[0])
    for where, query in queries_of(board):
        for label, chosen in (("All", everything), ("first values", {**everything, **picked})):
            text = substitute(query, chosen)
            try:
                series = influx.query(text, db="gridedge")
            except RuntimeError as exc:
                problems.append(f"{board['uid']} {where} ({label}): error {exc}: {text}")
                continue
            if label == "All" and not series:
                problems.append(f"{board['uid']} {where}: no series: {text}")
    return problems


def feed(pub: Any, now_ms: int) -> None:
    """Readings of every kind, spread over two minutes, plus two rejects."""
    codes = cells()
    for i in range(12):
        kind = ["dust", "water", "fire"][i % 3]
        device, cell = f"{kind}-{i:04d}", codes[i % len(codes)]
        for k in range(6):
            ts = now_ms - (6 - k) * 20_000
            payloads: dict[str, dict[str, float]] = {
                "dust": {"pm10": 60.0 + k, "pm25": 30.0 + k, "noise": 55.0}, "water": {"level": 4.0 + 0.1 * k},
                "fire": {"alarm": k % 2},
            }  # fmt: skip
            payload = payloads[kind]
            pub.publish(f"grid/{cell}/{kind}/{device}", json.dumps({**payload, "ts": ts}), qos=1)
    for site, cell in (("site-a", codes[0]), ("site-b", codes[3])):
        for k in range(6):
            payload = {"pm10": 90.0 + k, "pm25": 40.0, "noise": 60.0, "ts": now_ms - (6 - k) * 20_000}
            pub.publish(f"grid/{cell}/dust/dust-{site}", json.dumps(payload), qos=1)
    pub.publish(f"grid/{codes[0]}/dust/dust-0000", b"{not json", qos=1)
    pub.publish(f"grid/{codes[0]}/dust/nobody", json.dumps({"pm10": 1}), qos=1).wait_for_publish(5)


def metrics_span_s(influx: InfluxDB1) -> float:
    """Seconds between the gateway's first and last metrics point."""
    times = [int(row[0]) for row in rows(influx, 'SELECT "accepted" FROM "gridedge"')]
    return (max(times) - min(times)) / 1e9 if times else 0.0


def has(influx: InfluxDB1, query: str) -> bool:
    return bool(influx.query(query, db="gridedge"))


def test_every_influxql_query_returns_series_from_the_real_gateway(
    tmp_path: Path, mosquitto: Mosquitto, influxdb1: InfluxDB1
) -> None:
    cfg = tmp_path / "cfg"
    extra: dict[str, object] = {
        "gateway": {"metrics_interval": "1s"},
        "rules": rules_config(cfg, hold="1s"),  # pm10-high; WATER_RULE is appended below
        "dispatch": {"endpoints": [{"name": "centre", "url": f"http://127.0.0.1:{free_port()}/",
                                    "secret": "env:HOOK_KEY"}]},  # nobody listens: a backlog to chart
    }  # fmt: skip
    sites: list[dict[str, object]] = [
        {"id": f"dust-{site}", "kind": "dust", "grid": cells()[i * 3], "tags": {"site": site}}
        for i, site in enumerate(("site-a", "site-b"))
    ]
    with (cfg / "rules.yaml").open("a") as rules:
        rules.write(WATER_RULE)
    influx = {"version": 1, "url": influxdb1.url, "db": "gridedge", "flush_interval": "100ms"}
    config = write_config(cfg, broker_url=mosquitto.url, influx=influx, extra=extra, extra_devices=sites)
    gateway = GatewayProcess(config, env={"HOOK_KEY": HOOK_KEY})
    gateway.start()
    try:
        wait_subscribed(gateway)
        pub = publisher(mosquitto)
        feed(pub, int(time.time() * 1000))
        keep_sending(pub, 150, 2.5)  # pm10 over the rule's 100 for longer than its `for: 1s`: an incident opens
        wait_for(lambda: has(influxdb1, 'SELECT * FROM "incident"'), timeout=30, what="an incident in InfluxDB")
        wait_for(
            lambda: has(influxdb1, 'SELECT "rejected_malformed", "dispatch_backlog" FROM "gridedge" '
                                   'WHERE "dispatch_backlog" > 0 AND "rejected_malformed" > 0'),
            timeout=30, what="the gateway's metrics with rejects and a dispatch backlog",
        )  # fmt: skip
        wait_for(lambda: len(tag_values(influxdb1, 'SHOW TAG VALUES FROM "dust" WITH KEY = "site"')) == 2,
                 timeout=30, what="the site-tagged dust readings")  # fmt: skip
        wait_for(lambda: has(influxdb1, 'SELECT * FROM "incident" WHERE "rule" = \'water-high\''),
                 timeout=30, what="a water incident")  # fmt: skip
        wait_for(lambda: metrics_span_s(influxdb1) > 2.5 * 10, timeout=60,
                 what="metrics over three 10 s intervals (a derivative needs two)")  # fmt: skip
        pub.loop_stop()
        problems: list[str] = []
        count = 0
        for path in DASHBOARDS:
            board = load(path)
            count += len(queries_of(board)) + len(board["templating"]["list"])
            problems += check_dashboard(influxdb1, board)
        assert not problems, "\n".join(problems)
        print(f"{count} InfluxQL queries of {len(DASHBOARDS)} dashboards returned series")
    finally:
        assert gateway.terminate() == 0
    assert HOOK_KEY not in gateway.output()
