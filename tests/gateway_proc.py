"""Run the real gateway (`python edge.py run`) as a child process against the test servers.

Writes a config directory (edge.yaml, devices.yaml, grids.yaml) into a temp dir, starts the
gateway, and can stop it gracefully or kill it with SIGKILL, then start it again on the same
journal: what the kill -9 and outage tests need.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def cells(count: int = 6) -> list[str]:
    """Grid codes of a few cells in two streets of one district."""
    return [f"110105{1 + i // 3:03d}{1 + i % 3:03d}001" for i in range(count)]


def write_config(
    directory: Path,
    *,
    broker_url: str,
    influx: dict[str, object] | None = None,
    devices: int = 12,
    extra: dict[str, object] | None = None,
    extra_devices: list[dict[str, object]] | None = None,
) -> Path:
    """A complete config in `directory`; returns the edge.yaml path."""
    directory.mkdir(parents=True, exist_ok=True)
    codes = cells()
    (directory / "grids.yaml").write_text(
        yaml.safe_dump([{"code": c, "name": f"网格 {i}"} for i, c in enumerate(codes)], allow_unicode=True)
    )
    kinds = ["dust", "water", "fire"]
    device_list: list[dict[str, object]] = [
        {"id": f"{kinds[i % 3]}-{i:04d}", "kind": kinds[i % 3], "grid": codes[i % len(codes)], "interval": "60s"}
        for i in range(devices)
    ]
    device_list += extra_devices or []
    (directory / "devices.yaml").write_text(yaml.safe_dump(device_list))
    config: dict[str, object] = {
        "gateway": {"id": "gw-test", "data_dir": str(directory / "var"), "log_level": "info"},
        "mqtt": {
            "url": broker_url,
            "client_id": "gw-test",
            "embedded_broker": "off",
            "reconnect": {"min_delay": 0.2, "max_delay": 2},
            "subscriptions": [
                {"topic": "grid/+/+/+", "template": "grid/{grid}/{kind}/{device}", "qos": 1, "codec": "json"}
            ],
        },
        "journal": {"commit_interval": "10ms"},
        "devices": {"files": ["devices.yaml"]},
        "grids": {"files": ["grids.yaml"]},
    }
    if influx is not None:
        config["influx"] = influx
    for key, value in (extra or {}).items():
        section = config.setdefault(key, {})
        if isinstance(section, dict) and isinstance(value, dict):
            section.update(value)
        else:
            config[key] = value
    path = directory / "edge.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


class GatewayProcess:
    """`edge.py run` as a child process; its output goes to a log file beside the config."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.log = config.parent / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(REPO / "edge.py"), "run", "--config", str(self.config)],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=self.env,
            )

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait for a graceful exit; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
