"""MQTT input details against mosquitto: TLS, MQTT 3.1.1 brokers, watchdog, reconnect after a broker restart."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.codecs import JsonCodec
from adapters.mqtt.client import MqttInput, MqttSettings, Subscription
from adapters.mqtt.templates import TopicTemplate
from gateway.journal import Journal, JournalSettings
from gateway.model import GridCell
from gateway.pipeline import Intake
from tests.servers import Mosquitto, wait_for
from tests.test_mqtt_input import Dev, Directory, publisher

CELL = "110105001001001"
DEVICES = Directory([Dev("dust-0001", "dust", GridCell(CELL))])


def subs(watchdog: float | None = None) -> list[Subscription]:
    template = TopicTemplate.parse("grid/{grid}/{kind}/{device}")
    return [Subscription("grid/+/+/+", template, JsonCodec(), 1, "", watchdog)]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(JournalSettings(tmp_path / "j.db", commit_interval=0.01), sinks=["influx"])
    j.start()
    yield j
    j.close()


def make_certs(directory: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with the openssl command."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, crt = (directory / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=GridEdge test CA",
        "-keyout", str(ca_key), "-out", str(ca))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
        "-extfile", str(ext), "-out", str(crt))
    return {"ca": ca, "key": key, "crt": crt}


def test_tls_with_the_right_ca_connects_and_a_wrong_one_does_not(tmp_path: Path, journal: Journal) -> None:
    certs = make_certs(tmp_path / "certs")
    other = make_certs(tmp_path / "other")
    broker = Mosquitto(tmp_path / "tls-broker")
    broker.extra_conf = f"cafile {certs['ca']}\ncertfile {certs['crt']}\nkeyfile {certs['key']}\n"
    broker.start()
    try:
        good = MqttInput(
            MqttSettings(port=broker.port, client_id="gw-tls", tls=True, ca_file=str(certs["ca"])),
            subs(), Intake(DEVICES, journal),
        )
        good.start()
        assert good.connected.wait(10)
        good.stop()
        bad = MqttInput(
            MqttSettings(port=broker.port, client_id="gw-tls-bad", tls=True, ca_file=str(other["ca"])),
            subs(), Intake(DEVICES, journal),
        )
        bad.start()
        assert not bad.connected.wait(3)  # certificate verify failed: never connected
        bad.stop()
    finally:
        broker.stop()


def test_mqtt_311_broker_session_is_persistent(mosquitto: Mosquitto, journal: Journal) -> None:
    settings = MqttSettings(port=mosquitto.port, client_id="gw-311", protocol="3.1.1")
    gw = MqttInput(settings, subs(), Intake(DEVICES, journal))
    gw.start()
    assert gw.connected.wait(10)
    gw.stop()
    pub = publisher(mosquitto)
    t0 = int(time.time() * 1000)
    for i in range(25):  # published while the gateway is away: queued for its 3.1.1 persistent session
        pub.publish(f"grid/{CELL}/dust/dust-0001", json.dumps({"pm10": i, "ts": t0 + i}), qos=1).wait_for_publish(5)
    gw = MqttInput(settings, subs(), Intake(DEVICES, journal))
    gw.start()
    wait_for(lambda: journal.depth("influx") == 25, what="queued messages delivered on reconnect")
    gw.stop()
    pub.loop_stop()


def test_watchdog_reports_a_silent_subscription(mosquitto: Mosquitto, journal: Journal) -> None:
    gw = MqttInput(MqttSettings(port=mosquitto.port, client_id="gw-dog"), subs(watchdog=5.0), Intake(DEVICES, journal))
    gw.start()
    assert gw.connected.wait(10)
    now = time.monotonic()
    assert gw.silent(now) == []
    ((topic, silent_for),) = gw.silent(now + 6)
    assert topic == "grid/+/+/+" and silent_for == pytest.approx(6, abs=1)
    pub = publisher(mosquitto)
    pub.publish(f"grid/{CELL}/dust/dust-0001", json.dumps({"pm10": 1}), qos=1).wait_for_publish(5)
    wait_for(lambda: journal.depth("influx") == 1, what="one reading")
    assert gw.silent(time.monotonic() + 4) == []  # the message reset the watchdog
    gw.stop()
    pub.loop_stop()


def test_reconnects_and_resubscribes_when_the_broker_lost_the_session(tmp_path: Path, journal: Journal) -> None:
    broker = Mosquitto(tmp_path / "volatile")
    broker.extra_conf = ""
    broker.start()
    conf = broker.workdir / "mosquitto.conf"
    settings = MqttSettings(port=broker.port, client_id="gw-lost", reconnect_min=0.2, reconnect_max=1)
    gw = MqttInput(settings, subs(), Intake(DEVICES, journal))
    gw.start()
    try:
        assert gw.connected.wait(10)
        broker.stop()
        (broker.workdir / "mosquitto.db").unlink(missing_ok=True)  # the broker comes back with no sessions
        assert "persistence true" in conf.read_text()
        broker.start()
        wait_for(lambda: gw.stats.connects >= 2, timeout=20, what="reconnect")
        assert gw.stats.subscribes == 2  # a new session: subscribed again
        pub = publisher(broker)
        pub.publish(f"grid/{CELL}/dust/dust-0001", json.dumps({"pm10": 7}), qos=1).wait_for_publish(5)
        wait_for(lambda: journal.depth("influx") == 1, what="reading after resubscribe")
        pub.loop_stop()
    finally:
        gw.stop()
        broker.stop()
