"""The command line as a user runs it: demo on embedded defaults, tail, check, simulate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.gateway_proc import REPO, write_config
from tests.servers import Mosquitto, free_port


def edge(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "edge.py"), *args], capture_output=True, text=True, timeout=timeout,
        cwd=REPO, env={**os.environ, **(env or {})}, check=False,
    )


def test_demo_runs_on_embedded_defaults_and_tail_shows_the_journal(tmp_path: Path) -> None:
    env = {"GRIDEDGE_MQTT__URL": f"mqtt://127.0.0.1:{free_port()}", "GRIDEDGE_GATEWAY__DATA_DIR": str(tmp_path)}
    demo = edge("demo", "--seconds", "5", "--rate", "40", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "embedded MQTT broker" in demo.stderr
    rows = [line for line in demo.stdout.splitlines() if "dust-0001" in line or "water-0001" in line]
    assert rows, demo.stdout
    assert "110105001001001" in demo.stdout  # readings carry their grid cell
    tail = edge("tail", "-n", "5", env=env)
    assert tail.returncode == 0, tail.stderr
    assert len(tail.stdout.splitlines()) == 5


def test_check_accepts_the_shipped_config_and_reports_problems_with_file_and_line(tmp_path: Path) -> None:
    ok = edge("check", "--config", str(REPO / "config" / "edge.yaml"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = write_config(tmp_path, broker_url="mqtt://127.0.0.1:1883")
    bad.write_text(bad.read_text().replace("qos: 1", "qos: 7").replace("embedded_broker", "embeded_broker"))
    out = edge("check", "--config", str(bad))
    assert out.returncode == 1
    assert f"{bad.name}:" in out.stdout or str(bad) in out.stdout
    assert "mqtt.subscriptions[0].qos" in out.stdout
    assert "embeded_broker" in out.stdout and "embedded_broker" in out.stdout  # the fix is suggested


def test_run_refuses_a_bad_config_without_starting(tmp_path: Path) -> None:
    bad = write_config(tmp_path, broker_url="mqtt://127.0.0.1:1883")
    bad.write_text(bad.read_text().replace("grids.yaml", "missing-grids.yaml"))
    out = edge("run", "--config", str(bad))
    assert out.returncode == 1
    assert "missing-grids.yaml" in out.stderr and "nothing was started" in out.stderr


def test_simulate_publishes_at_a_rate(mosquitto: Mosquitto) -> None:
    out = edge("simulate", "--port", str(mosquitto.port), "--count", "300", "--rate", "1000", "--devices", "20")
    assert out.returncode == 0, out.stderr
    assert "published 300 readings" in out.stdout
