"""HJ 212 and SL 651 stations connected straight to the running gateway: readings land in InfluxDB with
their device, cell, fields and times; acks come back only when durable; a kill -9 loses no acked packet."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.hj212.framing import encode_packet
from adapters.sl651.framing import encode_frame
from tests.gateway_proc import GatewayProcess, cells, write_config
from tests.servers import InfluxDB1, Mosquitto, free_port, wait_for

BEIJING = timedelta(hours=8)
MN = "010000A8900016F000169DC0"
STATION = bytes.fromhex("0011223344")
DUST_CELL, WATER_CELL = cells()[1], cells()[4]


def hj212_packet(seq: int, when: datetime, flag: int = 5) -> bytes:
    """A 2011 real-time upload with a unique QN and PM10 = 100 + seq."""
    local = when + BEIJING
    qn = local.strftime("%Y%m%d%H%M%S") + f"{seq % 1000:03d}"
    data_time = local.strftime("%Y%m%d%H%M%S")
    segment = (
        f"QN={qn};ST=39;CN=2011;PW=123456;MN={MN};Flag={flag};CP=&&DataTime={data_time};"
        f"a34002-Rtd={100 + seq:.1f},a34002-Flag=N;a34004-Rtd=41.0,a34004-Flag=N&&"
    )
    return encode_packet(segment)


def sl651_frame(level_mm: int, when: datetime) -> bytes:
    """A 定时报 (0x32) with water level Z in metres (3 decimals) observed at `when`."""
    local = when + BEIJING
    body = (
        (7).to_bytes(2, "big") + bytes.fromhex(local.strftime("%y%m%d%H%M%S")) + b"\xf1\xf1" + STATION + b"H"
        + b"\xf0\xf0" + bytes.fromhex(local.strftime("%y%m%d%H%M")) + b"\x39\x23" + bytes.fromhex(f"{level_mm:08d}")
    )
    return encode_frame(centre=1, station=STATION, password=0x1234, function=0x32, body=body, end=0x03)


def read_until(sock: socket.socket, marker: bytes, count: int, timeout: float = 10) -> bytes:
    data = b""
    sock.settimeout(timeout)
    while data.count(marker) < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def station_gateway(
    tmp_path: Path, mosquitto: Mosquitto, influxdb1: InfluxDB1
) -> Iterator[tuple[GatewayProcess, int, int]]:
    hj_port, sl_port = free_port(), free_port()
    influx = {"version": 1, "url": influxdb1.url, "db": "gridedge", "flush_interval": "100ms"}
    config = write_config(
        tmp_path / "cfg", broker_url=mosquitto.url, influx=influx,
        extra={"hj212": {"host": "127.0.0.1", "port": hj_port}, "sl651": {"host": "127.0.0.1", "port": sl_port}},
        extra_devices=[
            {"id": "dust-site-1", "kind": "dust", "grid": DUST_CELL, "aliases": [MN]},
            {"id": "gauge-1", "kind": "water", "grid": WATER_CELL, "aliases": [STATION.hex()]},
        ],
    )
    gateway = GatewayProcess(config)
    gateway.start()
    wait_for(lambda: "Sl651Server server listening" in gateway.output(), timeout=30, what="servers up")
    yield gateway, hj_port, sl_port
    if gateway.alive():
        gateway.terminate()


def test_hj212_dtu_readings_land_with_device_cell_and_acks(
    station_gateway: tuple[GatewayProcess, int, int], influxdb1: InfluxDB1
) -> None:
    _, hj_port, _ = station_gateway
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    with socket.create_connection(("127.0.0.1", hj_port)) as dtu:
        dtu.sendall(b"garbage before##00" + b"".join(hj212_packet(i, now + timedelta(seconds=i)) for i in range(5)))
        acks = read_until(dtu, b"\r\n", 5)
    assert acks.count(b"CN=9014") == 5 and b"ST=91" in acks
    wait_for(lambda: influxdb1.query("SELECT count(pm10) FROM dust", db="gridedge"), what="dust in InfluxDB")
    series = influxdb1.query("SELECT pm10, pm25 FROM dust GROUP BY device, grid", db="gridedge")
    assert series[0]["tags"] == {"device": "dust-site-1", "grid": DUST_CELL}
    values = series[0]["values"]
    assert isinstance(values, list)
    assert values[0] == [int(now.timestamp()) * 1_000_000_000, 100.0, 41.0]  # DataTime, Beijing time → UTC
    assert [v[1] for v in values] == [100.0, 101.0, 102.0, 103.0, 104.0]


def test_sl651_station_reading_lands_and_is_answered(
    station_gateway: tuple[GatewayProcess, int, int], influxdb1: InfluxDB1
) -> None:
    _, _, sl_port = station_gateway
    now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    with socket.create_connection(("127.0.0.1", sl_port)) as station:
        station.sendall(sl651_frame(10_490, now))
        reply = read_until(station, b"\x04", 1)
    assert reply.startswith(b"\x7e\x7e") and b"\x04" in reply  # the EOT downlink
    wait_for(lambda: influxdb1.query("SELECT * FROM water", db="gridedge"), what="water in InfluxDB")
    series = influxdb1.query("SELECT water_level FROM water GROUP BY device, grid", db="gridedge")
    assert series[0]["tags"] == {"device": "gauge-1", "grid": WATER_CELL}
    assert series[0]["values"] == [[int(now.timestamp()) * 1_000_000_000, 10.49]]


@pytest.mark.slow
def test_kill_9_loses_no_acked_hj212_packet(
    station_gateway: tuple[GatewayProcess, int, int], influxdb1: InfluxDB1
) -> None:
    gateway, hj_port, _ = station_gateway
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    acked = 0
    with socket.create_connection(("127.0.0.1", hj_port)) as dtu:
        dtu.sendall(b"".join(hj212_packet(i, base + timedelta(seconds=i)) for i in range(300)))
        dtu.settimeout(5)
        data = b""
        while data.count(b"CN=9014") < 150:
            data += dtu.recv(65536)
        gateway.kill()  # some packets acked, some not
        try:
            while chunk := dtu.recv(65536):
                data += chunk
        except OSError:
            pass
        acked = data.count(b"CN=9014")
    assert acked >= 150
    gateway.start()  # the journal it finds holds every acked packet; the writer drains it

    def landed() -> set[float]:
        series = influxdb1.query("SELECT pm10 FROM dust", db="gridedge")
        values = series[0]["values"] if series else []
        assert isinstance(values, list)
        return {v[1] for v in values}

    wanted = {100.0 + i for i in range(acked)}  # acks come in order: the first `acked` packets
    wait_for(lambda: wanted <= landed(), timeout=30, what=f"all {acked} acked packets in InfluxDB")
