"""End to end through the real gateway process: MQTT in, InfluxDB out, with crashes and outages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.gateway_proc import GatewayProcess, cells, write_config
from tests.servers import InfluxDB1, Mosquitto, VictoriaMetrics, wait_for

DUST = [f"dust-{i:04d}" for i in (0, 3, 6, 9)]  # the dust devices write_config registers
CELLS = cells()


def device_cell(device: str) -> str:
    index = int(device.split("-")[1])
    return CELLS[index % len(CELLS)]


def publisher(broker: Mosquitto, client_id: str = "") -> mqtt.Client:
    """A QoS 1 publisher whose session survives broker restarts (so nothing it sent is lost)."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id or f"pub-{time.monotonic_ns()}",
        protocol=MQTTProtocolVersion.MQTTv311, clean_session=False,
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 2)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def publish_seq(client: mqtt.Client, start: int, stop: int, rate: float, t0_ms: int) -> None:
    """Publish readings `start..stop-1` with `seq` and a unique device time, at about `rate` per second."""
    began = time.monotonic()
    for seq in range(start, stop):
        device = DUST[seq % len(DUST)]
        payload = json.dumps({"pm10": 40 + seq % 50, "seq": seq, "ts": t0_ms + seq})
        client.publish(f"grid/{device_cell(device)}/dust/{device}", payload, qos=1)
        due = began + (seq - start + 1) / rate
        if (pause := due - time.monotonic()) > 0:
            time.sleep(pause)


def influx_seqs(influx: InfluxDB1) -> set[int]:
    seqs: set[int] = set()
    for series in influx.query("SELECT seq FROM dust", db="gridedge"):
        values = series["values"]
        assert isinstance(values, list)
        seqs.update(int(v[1]) for v in values)
    return seqs


@pytest.fixture
def v1_gateway(tmp_path: Path, mosquitto: Mosquitto, influxdb1: InfluxDB1) -> Iterator[GatewayProcess]:
    influx = {"version": 1, "url": influxdb1.url, "db": "gridedge", "flush_interval": "200ms", "max_retry_delay": "2s"}
    extra: dict[str, object] = {"gateway": {"metrics_interval": "1s"}}
    gateway = GatewayProcess(write_config(tmp_path / "cfg", broker_url=mosquitto.url, influx=influx, extra=extra))
    gateway.start()
    yield gateway
    if gateway.alive():
        gateway.terminate()


def wait_subscribed(gateway: GatewayProcess) -> None:
    def connected() -> bool:
        if not gateway.alive():
            raise RuntimeError(f"the gateway exited:\n{gateway.output()[-3000:]}")
        log = gateway.output().rsplit("MQTT connected", 1)[-1]  # the newest connection's outcome
        return "MQTT subscribed" in log or "(session resumed)" in log

    wait_for(connected, timeout=30, what="gateway subscribed at the broker")


def test_readings_land_in_influxdb_v1_with_grid_tags(
    v1_gateway: GatewayProcess, mosquitto: Mosquitto, influxdb1: InfluxDB1
) -> None:
    wait_subscribed(v1_gateway)
    pub = publisher(mosquitto)
    t0 = int(time.time() * 1000) - 60_000
    publish_seq(pub, 0, 40, rate=500, t0_ms=t0)
    pub.publish(f"grid/{CELLS[1]}/water/water-0001", json.dumps({"level": 1.25, "ts": t0}), qos=1)
    wait_for(lambda: len(influx_seqs(influxdb1)) == 40, timeout=30, what="40 dust readings in InfluxDB")
    series = influxdb1.query(
        "SELECT pm10, seq FROM dust WHERE device = 'dust-0003' GROUP BY grid, street, district, community, kind",
        db="gridedge",
    )
    assert len(series) == 1
    tags = series[0]["tags"]
    assert tags == {
        "grid": CELLS[3], "street": CELLS[3][:9], "community": CELLS[3][:12], "district": "110105", "kind": "dust",
    }
    first = series[0]["values"][0]  # type: ignore[index]
    assert first == [(t0 + 1) * 1_000_000, 41.0, 1.0]  # seq 1 went to dust-0003 at t0 + 1 ms
    wait_for(lambda: influxdb1.query("SELECT level FROM water", db="gridedge"), timeout=15, what="water reading")
    water = influxdb1.query("SELECT level FROM water GROUP BY device, grid", db="gridedge")[0]
    assert water["tags"] == {"device": "water-0001", "grid": CELLS[1]}
    assert water["values"] == [[t0 * 1_000_000, 1.25]]

    def accepted() -> float:  # the gateway's own metrics travel the same path
        rows = influxdb1.query("SELECT last(accepted) FROM gridedge WHERE gateway = 'gw-test'", db="gridedge")
        values = rows[0]["values"] if rows else [[0, 0.0]]
        assert isinstance(values, list)
        return float(values[0][1])

    wait_for(lambda: accepted() >= 41, timeout=15, what="the gateway's own metrics in InfluxDB")
    pub.loop_stop()
    assert v1_gateway.proc is not None  # with no camera, OpenCV's libraries never enter the process
    assert "opencv" not in Path(f"/proc/{v1_gateway.proc.pid}/maps").read_text().lower()


def test_readings_land_in_victoriametrics_over_the_v2_api(
    tmp_path: Path, mosquitto: Mosquitto, victoriametrics: VictoriaMetrics
) -> None:
    influx = {"version": 2, "url": victoriametrics.url, "org": "city", "bucket": "grid", "token": "env:TEST_TOKEN",
              "flush_interval": "200ms"}
    gateway = GatewayProcess(
        write_config(tmp_path / "cfg", broker_url=mosquitto.url, influx=influx), env={"TEST_TOKEN": "s3cret-token"}
    )
    gateway.start()
    try:
        wait_subscribed(gateway)
        pub = publisher(mosquitto)
        t0 = int(time.time() * 1000) - 60_000
        publish_seq(pub, 0, 20, rate=500, t0_ms=t0)

        def exported() -> list[dict[str, object]]:
            return victoriametrics.export('{__name__="dust_seq"}')

        wait_for(lambda: sum(len(r["values"]) for r in exported()) == 20, timeout=30, what="20 in VictoriaMetrics")  # type: ignore[arg-type,misc]
        rows = exported()
        by_device = {r["metric"]["device"]: r for r in rows}  # type: ignore[index]
        row = by_device["dust-0000"]
        assert row["metric"]["grid"] == CELLS[0] and row["metric"]["district"] == "110105"  # type: ignore[index]
        assert row["timestamps"][0] == t0 and row["values"][0] == 0.0  # type: ignore[index]
        pub.loop_stop()
    finally:
        assert gateway.terminate() == 0
    assert "s3cret-token" not in gateway.output()


@pytest.mark.slow
def test_kill_9_midway_loses_no_acked_reading(
    v1_gateway: GatewayProcess, mosquitto: Mosquitto, influxdb1: InfluxDB1
) -> None:
    wait_subscribed(v1_gateway)
    pub = publisher(mosquitto, "pub-kill9")
    t0 = int(time.time() * 1000) - 120_000
    total = 20_000
    publish_seq(pub, 0, total // 2, rate=2500, t0_ms=t0)
    v1_gateway.kill()  # mid-stream: some readings in flight, some committed but not yet acked
    publish_seq(pub, total // 2, total, rate=2500, t0_ms=t0)
    v1_gateway.start()
    wait_for(lambda: len(influx_seqs(influxdb1)) == total, timeout=120, what="all 20,000 sequence numbers")
    assert influx_seqs(influxdb1) == set(range(total))
    pub.loop_stop()


@pytest.mark.slow
def test_influxdb_outage_of_30s_loses_nothing_and_drains_in_order(
    v1_gateway: GatewayProcess, mosquitto: Mosquitto, influxdb1: InfluxDB1
) -> None:
    wait_subscribed(v1_gateway)
    pub = publisher(mosquitto)
    t0 = int(time.time() * 1000) - 120_000
    publish_seq(pub, 0, 1000, rate=1000, t0_ms=t0)
    wait_for(lambda: len(influx_seqs(influxdb1)) == 1000, timeout=30, what="first 1000")
    influxdb1.stop()
    down_until = time.monotonic() + 30
    publish_seq(pub, 1000, 7000, rate=200, t0_ms=t0)  # 30 s of traffic while InfluxDB is away
    while (left := down_until - time.monotonic()) > 0:
        time.sleep(min(left, 1))
    influxdb1.start()
    wait_for(lambda: len(influx_seqs(influxdb1)) == 7000, timeout=90, what="the backlog to drain")
    assert influx_seqs(influxdb1) == set(range(7000))
    pub.loop_stop()


@pytest.mark.slow
def test_broker_restart_under_load_loses_nothing(
    v1_gateway: GatewayProcess, mosquitto: Mosquitto, influxdb1: InfluxDB1
) -> None:
    wait_subscribed(v1_gateway)
    pub = publisher(mosquitto, "pub-restart")
    t0 = int(time.time() * 1000) - 120_000
    publish_seq(pub, 0, 3000, rate=2000, t0_ms=t0)
    mosquitto.restart()  # graceful: mosquitto saves its persistent sessions and queues
    publish_seq(pub, 3000, 6000, rate=2000, t0_ms=t0)  # the publisher queues until it reconnects
    wait_for(lambda: len(influx_seqs(influxdb1)) == 6000, timeout=90, what="all 6000 after the restart")
    assert influx_seqs(influxdb1) == set(range(6000))
    assert v1_gateway.output().count("MQTT connected") >= 2
    pub.loop_stop()


@pytest.mark.slow
def test_sigterm_under_load_drains_and_loses_no_acked_reading(
    v1_gateway: GatewayProcess, mosquitto: Mosquitto, influxdb1: InfluxDB1
) -> None:
    wait_subscribed(v1_gateway)
    pub = publisher(mosquitto, "pub-sigterm")
    t0 = int(time.time() * 1000) - 120_000
    publish_seq(pub, 0, 4000, rate=2000, t0_ms=t0)
    started = time.monotonic()
    assert v1_gateway.terminate(timeout=30) == 0  # graceful: inputs stop, journal flushed, writer drained
    assert time.monotonic() - started < 25, "the shutdown drain took longer than the stop grace period"
    assert "stopped" in v1_gateway.output()
    publish_seq(pub, 4000, 6000, rate=2000, t0_ms=t0)  # queued at the broker for the gateway's session
    v1_gateway.start()
    wait_for(lambda: len(influx_seqs(influxdb1)) == 6000, timeout=60, what="all 6000 after the restart")
    assert influx_seqs(influxdb1) == set(range(6000))
    pub.loop_stop()
