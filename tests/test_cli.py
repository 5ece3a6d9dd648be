"""The command line as a user runs it: demo on embedded defaults, tail, check, simulate."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.gateway_proc import REPO, write_config
from tests.servers import InfluxDB1, Mosquitto, free_port


def edge(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "edge.py"), *args], capture_output=True, text=True, timeout=timeout,
        cwd=REPO, env={**os.environ, **(env or {})}, check=False,
    )


def test_demo_runs_on_embedded_defaults_and_tail_shows_the_journal(tmp_path: Path) -> None:
    env = {"GRIDEDGE_MQTT__URL": f"mqtt://127.0.0.1:{free_port()}", "GRIDEDGE_GATEWAY__DATA_DIR": str(tmp_path)}
    demo = edge("demo", "--seconds", "14", "--rate", "40", "--drill-after", "1", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "embedded MQTT broker" in demo.stderr
    rows = [line for line in demo.stdout.splitlines() if "dust-0001" in line or "water-0001" in line]
    assert rows, demo.stdout
    assert "110105001001001" in demo.stdout  # readings carry their grid cell
    # The drill alarm opens a fire incident after the rule's 5 s debounce; incidents are always shown.
    assert "title=fire-alarm opened: critical on fire-0001" in demo.stdout, demo.stdout[-3000:]
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


def test_rules_explain_shows_overrides() -> None:
    out = edge("rules", "explain", "dust-0003")
    assert out.returncode == 0, out.stderr
    assert "dust-pm10-1h" in out.stdout and "device_class:tsp-monitor" in out.stdout
    assert "avg(pm10) over 1h, once it holds 3 samples" in out.stdout
    water = edge("rules", "explain", "water-0001")
    assert "rate of level per 1h over 1h, once the samples span 15m" in water.stdout
    missing = edge("rules", "explain", "nobody-1")
    assert missing.returncode == 1 and "not in the registry" in missing.stderr


def test_backtest_over_recorded_air_quality_and_compare(tmp_path: Path) -> None:
    data = next((REPO / "tests" / "data" / "rules").glob("*.csv"))
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        "version: 1\nrules:\n  - id: pm25-24h\n    kind: window\n    event_type: '200302'\n"
        "    select: {kind: dust}\n    field: pm25\n    agg: avg\n    window: 1d\n"
        "    levels: [{severity: warning, set: 60, clear: 50}]\n"
    )
    loose = tmp_path / "loose.yaml"
    loose.write_text(strict.read_text().replace("set: 60, clear: 50", "set: 150, clear: 120"))
    out = edge("backtest", "--rules", str(strict), "--data", str(data))
    assert out.returncode == 0, out.stderr
    assert "pm25-24h" in out.stdout and "incidents" in out.stdout
    compared = edge("backtest", "--compare", str(strict), str(loose), "--data", str(data))
    assert compared.returncode == 0, compared.stderr
    assert "old:" in compared.stdout and "new:" in compared.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - id: x\n    kind: window\n")
    refused = edge("backtest", "--rules", str(bad), "--data", str(data))
    assert refused.returncode == 1 and "line 3" in refused.stderr


def test_backtest_reads_history_from_influxdb(influxdb1: InfluxDB1, tmp_path: Path) -> None:
    t0 = 1_700_000_000_000_000_000
    hour = 3_600_000_000_000
    lines = [f"dust,device=dust-0001,grid=110105001001001,kind=dust pm10={v}.0 {t0 + i * hour}"
             for i, v in enumerate([50, 180, 190, 200, 60, 50])]
    req = urllib.request.Request(f"{influxdb1.url}/write?db=gridedge", data="\n".join(lines).encode(), method="POST")
    urllib.request.urlopen(req, timeout=10).close()
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - id: pm10\n    kind: threshold\n    event_type: '200302'\n"
        "    select: {kind: dust}\n    field: pm10\n    levels: [{severity: warning, set: 150, clear: 100}]\n"
    )
    source = f"influx://127.0.0.1:{influxdb1.port}/gridedge?measurement=dust"
    out = edge("backtest", "--rules", str(rules), "--data", source)
    assert out.returncode == 0, out.stderr
    assert "6 readings" in out.stdout and "pm10" in out.stdout and "1 incident" in out.stdout
