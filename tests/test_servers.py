"""The server fixtures themselves: each starts, answers, and restarts on the same port."""

from __future__ import annotations

import urllib.request

from tests.servers import InfluxDB1, Mosquitto, VictoriaMetrics, port_open


def test_mosquitto_restarts_on_same_port(mosquitto: Mosquitto) -> None:
    port = mosquitto.port
    mosquitto.restart()
    assert mosquitto.port == port and port_open(port)


def test_influxdb1_write_and_query(influxdb1: InfluxDB1) -> None:
    body = b"dust,device=d1 pm10=42.5 1700000000000000000"
    req = urllib.request.Request(f"{influxdb1.url}/write?db=gridedge", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204
    series = influxdb1.query("SELECT pm10 FROM dust", db="gridedge")
    assert series[0]["values"] == [[1700000000000000000, 42.5]]


def test_victoriametrics_v2_write_and_export(victoriametrics: VictoriaMetrics) -> None:
    body = b"dust,device=d1 pm10=42.5 1700000000000000000"
    url = f"{victoriametrics.url}/api/v2/write?org=o&bucket=b&precision=ns"
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204
    rows = victoriametrics.export('{__name__="dust_pm10"}')
    assert rows[0]["values"] == [42.5] and rows[0]["timestamps"] == [1700000000000]
