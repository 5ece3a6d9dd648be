"""Rules in the running gateway: readings over MQTT open and resolve incidents that land in InfluxDB;
a kill -9 during a pending `for` timer resumes it; rule files reload, and a bad one is refused whole."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.gateway_proc import GatewayProcess, cells, write_config
from tests.servers import InfluxDB1, Mosquitto, wait_for
from tests.test_e2e import publisher, wait_subscribed

CELL = cells()[0]  # dust-0000's cell

RULES = """
version: 1
rules:
  - id: pm10-high
    kind: threshold
    event_type: "200302"
    select: {{kind: dust}}
    field: pm10
    levels:
      - {{severity: warning, set: {warning}, clear: {clear}}}
    for: {hold}
    clear_for: 1s
"""


def rules_config(directory: Path, hold: str = "2s") -> dict[str, object]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(RULES.format(warning=100, clear=80, hold=hold))
    return {"file": "rules.yaml", "tick_interval": "100ms", "state_interval": "200ms", "watch_interval": "200ms"}


def incidents(influx: InfluxDB1) -> list[tuple[str, str, float]]:
    """(event, incident id, revision) of the `incident` points, in time order."""
    out: list[tuple[str, str, float]] = []
    for series in influx.query("SELECT revision, incident_id FROM incident GROUP BY event", db="gridedge"):
        tags, values = series["tags"], series["values"]
        assert isinstance(tags, dict) and isinstance(values, list)
        out.extend((tags["event"], incident_id, revision) for _, revision, incident_id in values)
    return sorted(out, key=lambda e: (e[1], e[2]))


def send(pub: mqtt.Client, pm10: float) -> None:
    payload = json.dumps({"pm10": pm10, "ts": int(time.time() * 1000)})
    pub.publish(f"grid/{CELL}/dust/dust-0000", payload, qos=1).wait_for_publish(5)


def keep_sending(pub: mqtt.Client, pm10: float, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        send(pub, pm10)
        time.sleep(0.2)


@pytest.fixture
def ruled_gateway(tmp_path: Path, mosquitto: Mosquitto, influxdb1: InfluxDB1) -> Iterator[GatewayProcess]:
    cfg = tmp_path / "cfg"
    influx = {"version": 1, "url": influxdb1.url, "db": "gridedge", "flush_interval": "100ms"}
    config = write_config(cfg, broker_url=mosquitto.url, influx=influx, extra={"rules": rules_config(cfg)})
    gateway = GatewayProcess(config)
    gateway.start()
    wait_subscribed(gateway)
    yield gateway
    if gateway.alive():
        gateway.terminate()


def test_readings_open_and_resolve_an_incident_in_influxdb(
    ruled_gateway: GatewayProcess, mosquitto: Mosquitto, influxdb1: InfluxDB1
) -> None:
    pub = publisher(mosquitto)
    keep_sending(pub, 150, 3.5)  # above `set` for longer than `for: 2s`
    wait_for(lambda: incidents(influxdb1), timeout=15, what="an opened incident")
    keep_sending(pub, 50, 2.0)  # below `clear` for longer than `clear_for: 1s`
    wait_for(lambda: any(e[0] == "resolved" for e in incidents(influxdb1)), timeout=15, what="resolved")
    events = incidents(influxdb1)
    assert [e[0] for e in events] == ["opened", "resolved"]
    assert events[0][1] == events[1][1] and events[0][2] < events[1][2]  # one incident, revisions grow
    series = influxdb1.query("SELECT * FROM incident GROUP BY grid, rule, severity", db="gridedge")
    assert series[0]["tags"] == {"grid": CELL, "rule": "pm10-high", "severity": "warning"}
    pub.loop_stop()


def test_kill_9_during_a_pending_for_timer_resumes_it(
    tmp_path: Path, mosquitto: Mosquitto, influxdb1: InfluxDB1
) -> None:
    cfg = tmp_path / "cfg"
    influx = {"version": 1, "url": influxdb1.url, "db": "gridedge", "flush_interval": "100ms"}
    rules = rules_config(cfg, hold="6s")
    gateway = GatewayProcess(write_config(cfg, broker_url=mosquitto.url, influx=influx, extra={"rules": rules}))
    gateway.start()
    wait_subscribed(gateway)
    pub = publisher(mosquitto)
    send(pub, 150)  # the `for: 6s` timer starts
    time.sleep(1.5)  # let rule state be saved with the pending timer
    gateway.kill()
    killed_at = time.monotonic()
    gateway.start()
    wait_subscribed(gateway)
    # No more readings: only the restored timer can open the incident, ~4.5 s of its 6 s are left.
    wait_for(lambda: incidents(influxdb1), timeout=20, what="the resumed timer to fire")
    elapsed = time.monotonic() - killed_at
    assert elapsed >= 3.0, f"fired {elapsed:.1f}s after the kill: the timer did not keep its remaining time"
    assert [e[0] for e in incidents(influxdb1)] == ["opened"]
    assert "rules restored" in gateway.output()
    gateway.terminate()
    pub.loop_stop()


def test_rule_file_reloads_and_a_bad_one_is_refused(
    ruled_gateway: GatewayProcess, mosquitto: Mosquitto, influxdb1: InfluxDB1
) -> None:
    rules_file = ruled_gateway.config.parent / "rules.yaml"
    rules_file.write_text("version: 1\nrules:\n  - id: broken\n    kind: threshold\n")
    wait_for(lambda: "reload refused" in ruled_gateway.output(), timeout=10, what="the bad file refused")
    assert ruled_gateway.alive()
    rules_file.write_text(RULES.format(warning=55, clear=45, hold="1s"))  # now 60 µg/m³ is over the limit
    wait_for(lambda: "reloaded" in ruled_gateway.output(), timeout=10, what="the good file loaded")
    pub = publisher(mosquitto)
    keep_sending(pub, 60, 2.5)
    wait_for(lambda: incidents(influxdb1), timeout=15, what="an incident under the new rule")
    pub.loop_stop()
