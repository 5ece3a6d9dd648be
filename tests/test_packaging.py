"""Dockerfile and docker-compose.yml: linted, structured as promised, and the image's exact entrypoint run
outside a container against a config like the image's (no container engine runs here)."""

from __future__ import annotations

import inspect
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from gateway.app import Gateway
from gateway.config.loader import load_config
from gateway.config.units import parse_duration
from tests.servers import Mosquitto, free_port, wait_for

REPO = Path(__file__).resolve().parents[1]
DRAIN = float(inspect.signature(Gateway.shutdown).parameters["drain_timeout"].default)
"""The gateway's shutdown drain: InfluxDB flush and dispatch each get up to this long, one after the other."""


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, args = pending.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            pending = ""
    return instructions


def instruction(keyword: str) -> list[str]:
    return [args for key, args in dockerfile() if key == keyword]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def tool(name: str) -> str:
    """A linter binary installed into the venv by requirements-dev.txt."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: pip install -r requirements-dev.txt")
    return found


# -- Dockerfile ---------------------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    argv = [tool("hadolint"), "--no-color", "Dockerfile"]
    result = subprocess.run(argv, check=False, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    stages = instruction("FROM")
    assert len(stages) >= 2 and stages[0].endswith(" AS build")
    assert stages[-1] == "python:3.11-slim"
    assert any(args.startswith("--from=build ") for args in instruction("COPY"))
    user = instruction("USER")[-1]
    assert user.split(":")[0] not in {"root", "0"}
    assert "opencv-python-headless" in (REPO / "requirements.txt").read_text()
    assert "opencv-python>" not in (REPO / "requirements.txt").read_text()


def test_dockerfile_volume_healthcheck_stopsignal_entrypoint() -> None:
    assert json.loads(instruction("VOLUME")[0]) == ["/var/lib/gridedge"]
    health = instruction("HEALTHCHECK")[0]
    assert "http://127.0.0.1:8080/healthz" in health and "--timeout=" in health
    assert instruction("STOPSIGNAL") == ["SIGTERM"]
    entrypoint = json.loads(instruction("ENTRYPOINT")[0])
    assert entrypoint == ["python", "edge.py", "run", "--config", "/etc/gridedge/edge.yaml"]
    image_config = yaml.safe_load((REPO / "deploy/docker/edge.yaml").read_text())
    assert image_config["api"]["port"] == 8080
    assert image_config["gateway"]["data_dir"] == "/var/lib/gridedge"


def test_dockerignore_lets_every_copied_path_in() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert "**" in lines, "the context starts empty; each copied path is let in by a ! line"
    let_in = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    sources = [args.split()[0] for args in instruction("COPY") if not args.startswith("--from")]
    for source in sources:
        assert any(source.rstrip("/").startswith(path) for path in let_in), f"{source} is not let in"
        assert (REPO / source).exists()


def healthcheck_argv(port: int) -> list[str]:
    """The HEALTHCHECK's exec form, on this test's port and with this interpreter."""
    health = instruction("HEALTHCHECK")[0]
    argv = json.loads(health[health.index("CMD ") + 4 :])
    assert isinstance(argv, list) and argv[0] == "python"
    return [sys.executable, *(arg.replace(":8080/", f":{port}/") for arg in argv[1:])]


def image_etc(directory: Path) -> Path:
    """/etc/gridedge as the Dockerfile lays it out: config/ copied, then the image's edge.yaml over it."""
    copies = [args.split() for args in instruction("COPY")]
    assert ["config/", "/etc/gridedge/"] in copies
    assert ["deploy/docker/edge.yaml", "/etc/gridedge/edge.yaml"] in copies
    etc = directory / "etc-gridedge"
    shutil.copytree(REPO / "config", etc)
    shutil.copy(REPO / "deploy/docker/edge.yaml", etc / "edge.yaml")
    return etc


def entrypoint_argv(etc: Path) -> list[str]:
    """The image's ENTRYPOINT with this interpreter and the test's copy of /etc/gridedge."""
    argv = json.loads(instruction("ENTRYPOINT")[0])
    return [sys.executable if arg == "python" else arg.replace("/etc/gridedge", str(etc)) for arg in argv]


@pytest.fixture
def image_process(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """The entrypoint command, run from the repo (the image's WORKDIR holds the same files), compose-style env."""
    etc = image_etc(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "GRIDEDGE_GATEWAY__DATA_DIR": str(tmp_path / "var"),
        "GRIDEDGE_API__PORT": str(port),
        "GRIDEDGE_API__HOST": "127.0.0.1",  # the image binds 0.0.0.0 inside its own network namespace
        "GRIDEDGE_MQTT__URL": mosquitto.url,
        "GRIDEDGE_MQTT__EMBEDDED_BROKER": "off",
        "GRIDEDGE_RULES__WATCH": "false",
    }
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(entrypoint_argv(etc), cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    yield proc, port, log
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def healthz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def test_the_image_entrypoint_serves_healthz_and_stops_cleanly_on_sigterm(
    image_process: tuple[subprocess.Popen[bytes], int, Path], tmp_path: Path
) -> None:
    proc, port, log = image_process

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the entrypoint exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        return healthz(port)

    wait_for(up, timeout=60, what="/healthz of the entrypoint command")
    check = subprocess.run(healthcheck_argv(port), check=False, capture_output=True, timeout=10)
    assert check.returncode == 0, check.stderr
    wait_for(lambda: "MQTT connected" in log.read_text(), timeout=30, what="the broker connection")
    grace = parse_duration(compose()["services"]["gateway"]["stop_grace_period"])
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=grace) == 0
    elapsed = time.monotonic() - started
    assert elapsed < grace, f"stopped in {elapsed:.1f}s, the grace period is {grace:.0f}s"
    assert (tmp_path / "var" / "journal.db").exists()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # the image logs JSON lines, every one of them
    assert entries[-1]["msg"] == "stopped" and all(e["level"] in {"debug", "info", "warning"} for e in entries)


def test_healthcheck_fails_when_nothing_answers() -> None:
    check = subprocess.run(healthcheck_argv(free_port()), check=False, capture_output=True, timeout=10)
    assert check.returncode != 0


# -- docker-compose.yml -------------------------------------------------------------------------------


def test_compose_services_volumes_and_healthchecks() -> None:
    data = compose()
    services = data["services"]
    assert set(services) == {"mosquitto", "influxdb", "grafana", "gateway"}
    assert services["influxdb"]["image"].startswith("influxdb:1.8")
    for name in ("mosquitto", "influxdb", "grafana"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] == "CMD" and len(test) > 1, name
    assert instruction("HEALTHCHECK"), "the gateway's healthcheck comes from its image"
    declared = set(data["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
            assert target.startswith("/")
    assert "gridedge-journal:/var/lib/gridedge" in services["gateway"]["volumes"]
    assert services["gateway"]["build"] == "."


def test_compose_grace_period_is_longer_than_the_drain() -> None:
    gateway = compose()["services"]["gateway"]
    grace = parse_duration(gateway["stop_grace_period"])
    assert grace >= 2 * DRAIN + 5, f"{grace}s does not cover the InfluxDB and dispatch drains of {DRAIN}s each"
    assert gateway.get("stop_signal", "SIGTERM") == "SIGTERM"


def test_compose_depends_on_healthy_services_and_publishes_only_on_loopback() -> None:
    services = compose()["services"]
    for name in ("mosquitto", "influxdb"):
        assert services["gateway"]["depends_on"][name]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["influxdb"]["condition"] == "service_healthy"
    for name in ("gateway", "grafana"):
        assert all(str(port).startswith("127.0.0.1:") for port in services[name]["ports"]), name
    assert "ports" not in services["influxdb"]


def test_compose_gateway_environment_is_a_valid_config(tmp_path: Path) -> None:
    """The overrides compose sets, applied to the image's config, load without a problem."""
    etc = image_etc(tmp_path)
    env = {key: str(value) for key, value in compose()["services"]["gateway"]["environment"].items()}
    env = {key: value.replace("${GRIDEDGE_ID:-edge-01}", "edge-01") for key, value in env.items()}
    env |= {"MQTT_PASSWORD": "compose-mqtt-pw", "INFLUX_PASSWORD": "compose-influx-pw", "GRIDEDGE_LOG_LEVELS": ""}
    env["GRIDEDGE_GATEWAY__DATA_DIR"] = str(tmp_path / "var")
    loaded = load_config(etc / "edge.yaml", env=env)
    config = loaded.config
    assert config.mqtt.url == "mqtt://mosquitto:1883" and config.mqtt.embedded_broker == "off"
    assert config.mqtt.password is not None and config.mqtt.password.get() == "compose-mqtt-pw"
    assert config.influx is not None and config.influx.version == 1 and config.influx.url == "http://influxdb:8086"


def test_compose_secrets_come_from_the_env_file() -> None:
    """Every password in the compose file is a required ${VAR:?…} substitution, listed in the example."""
    text = (REPO / "docker-compose.yml").read_text()
    example = (REPO / "deploy/compose.env.example").read_text()
    for name in ("MQTT_PASSWORD", "INFLUX_PASSWORD", "INFLUX_ADMIN_PASSWORD", "INFLUX_READ_PASSWORD",
                 "GRAFANA_ADMIN_PASSWORD"):  # fmt: skip
        assert f"${{{name}:?" in text, name
        assert f"\n{name}=\n" in example, name


# -- the compose stack's mosquitto config, on the real mosquitto ------------------------------------------


class ComposeMosquitto(Mosquitto):
    """mosquitto on deploy/mosquitto/mosquitto.conf, its container paths and ports moved into a temp dir."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.health_port = free_port()
        config = workdir / "config"
        shutil.copytree(REPO / "deploy/mosquitto", config)
        subprocess.run(["mosquitto_passwd", "-c", "-b", str(config / "passwd"), "gridedge", "gw-pass-1"], check=True)
        subprocess.run(["mosquitto_passwd", "-b", str(config / "passwd"), "dust-0001", "dev-pass-1"], check=True)

    def command(self) -> list[str]:
        text = (self.workdir / "config/mosquitto.conf").read_text()
        text = text.replace("/mosquitto/", f"{self.workdir}/").replace("log_dest stdout", "")
        text = text.replace("listener 1883\n", f"listener {self.port} 127.0.0.1\n")
        text = text.replace("listener 1880 127.0.0.1", f"listener {self.health_port} 127.0.0.1")
        (self.workdir / "data").mkdir(exist_ok=True)
        conf = self.workdir / "compose-mosquitto.conf"
        conf.write_text(("user root\n" if os.geteuid() == 0 else "") + text)
        return ["mosquitto", "-c", str(conf)]


def sub(port: int, topic: str, *auth: str, count: int = 1, wait: int = 3) -> subprocess.CompletedProcess[str]:
    argv = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", str(count), "-W", str(wait)]
    return subprocess.run([*argv, *auth], check=False, capture_output=True, text=True, timeout=wait + 5)


def test_compose_mosquitto_health_listener_passwords_and_acls(tmp_path: Path) -> None:
    if shutil.which("mosquitto_sub") is None:
        pytest.fail("mosquitto_sub is missing: apt-get install mosquitto-clients (scripts/test does)")
    broker = ComposeMosquitto(tmp_path / "mq")
    broker.start()
    try:
        health = compose()["services"]["mosquitto"]["healthcheck"]["test"][1:]
        argv = [arg.replace("$$", "$").replace("1880", str(broker.health_port)) for arg in health]
        health_check = subprocess.run(argv, check=False, capture_output=True, timeout=15)
        assert health_check.returncode == 0, shlex.join(argv)
        assert sub(broker.health_port, "grid/#", wait=1).returncode != 0  # the health client reads nothing else
        assert sub(broker.port, "grid/#", wait=1).returncode != 0  # anonymous refused on the site listener
        assert sub(broker.port, "grid/#", "-u", "gridedge", "-P", "wrong", wait=1).returncode != 0

        got: list[str] = []
        subscribed = threading.Event()
        gateway = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="gw-acl-test")
        gateway.username_pw_set("gridedge", "gw-pass-1")
        gateway.on_subscribe = lambda *_args: subscribed.set()
        gateway.on_message = lambda _c, _u, msg: got.append(msg.topic)
        gateway.on_connect = lambda client, *_args: client.subscribe("grid/#", qos=1)
        gateway.connect("127.0.0.1", broker.port)
        gateway.loop_start()
        try:
            wait_for(subscribed.is_set, timeout=10, what="the gateway user's subscription")

            def publish(topic: str) -> None:
                subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-i", "dust-0001",
                                "-u", "dust-0001", "-P", "dev-pass-1", "-q", "1", "-t", topic, "-m", "{}"],
                               check=True, timeout=10)  # fmt: skip

            publish("grid/110105001001001/dust/dust-0002")  # another device's topic: dropped by the ACL
            publish("grid/110105001001001/dust/dust-0001")  # in order after it, so once this is in, that was not
            wait_for(lambda: got, timeout=10, what="the device's own reading")
            assert got == ["grid/110105001001001/dust/dust-0001"]
        finally:
            gateway.loop_stop()
            gateway.disconnect()
    finally:
        broker.stop()
