"""Real servers for the tests: mosquitto, InfluxDB 1.x and VictoriaMetrics on free loopback ports.

Each runs from its own temp dir and can be stopped and started again on the same port, which is
how the outage tests take a server away under load. Readiness is waited for, never slept on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `condition` until it returns truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def require(binary: str) -> str:
    """The path of a server binary; fail with the Debian package to install when it is missing."""
    for candidate in (shutil.which(binary), f"/usr/sbin/{binary}", f"/usr/bin/{binary}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError(f"{binary} not found: run scripts/test as root, or apt-get install the Debian package")


class ServerProcess:
    """A server process bound to one loopback port, restartable in place."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return port_open(self.port)

    def start(self) -> None:
        log = (self.workdir / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
        )
        log.close()
        wait_for(self._alive_and_ready, timeout=30, what=f"{self.name} on port {self.port}")

    def _alive_and_ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            tail = (self.workdir / f"{self.name}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")
        return self.ready()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None
        wait_for(lambda: not port_open(self.port), timeout=10, what=f"{self.name} port to close")

    def restart(self) -> None:
        self.stop()
        self.start()


class Mosquitto(ServerProcess):
    """mosquitto with persistence and queue limits large enough for load tests."""

    name = "mosquitto"

    def __init__(self, workdir: Path, extra_conf: str = "") -> None:
        super().__init__(workdir)
        self.extra_conf = extra_conf

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            # As root mosquitto drops to the `mosquitto` user, who cannot write its persistence file here.
            f"{'user root' if os.geteuid() == 0 else ''}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "max_keepalive 60\n"
            f"{self.extra_conf}"
        )
        return [require("mosquitto"), "-c", str(conf)]


class InfluxDB1(ServerProcess):
    """InfluxDB 1.x (Debian's influxd) with its HTTP /write and /query API."""

    name = "influxd"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.rpc_port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        conf = self.workdir / "influxdb.conf"
        conf.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.workdir}/meta"\n'
            f'[data]\n  dir = "{self.workdir}/data"\n  wal-dir = "{self.workdir}/wal"\n'
            '  query-log-enabled = false\n  index-version = "inmem"\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
        )
        return [require("influxd"), "-config", str(conf)]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as resp:
                return bool(resp.status == 204)
        except (OSError, urllib.error.URLError):
            return False

    def query(self, q: str, db: str = "") -> list[dict[str, object]]:
        """Run InfluxQL; returns the list of series of the first statement (empty when none)."""
        params = urllib.parse.urlencode({"q": q, "db": db, "epoch": "ns"})
        with urllib.request.urlopen(f"{self.url}/query?{params}", timeout=30) as resp:
            body = json.loads(resp.read())
        result = body["results"][0]
        if "error" in result:
            raise RuntimeError(result["error"])
        return list(result.get("series", []))

    def create_db(self, db: str) -> None:
        data = urllib.parse.urlencode({"q": f'CREATE DATABASE "{db}"'}).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=data, timeout=10):
            pass


class VictoriaMetrics(ServerProcess):
    """VictoriaMetrics, which accepts the InfluxDB v2 write API on /api/v2/write."""

    name = "victoria-metrics"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            require("victoria-metrics"),
            f"-storageDataPath={self.workdir}/data",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-retentionPeriod=100y",
            "-loggerLevel=ERROR",
        ]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=0.5) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def export(self, match: str) -> list[dict[str, object]]:
        """Raw samples of the series matching a selector, as /api/v1/export's JSON lines."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10):
            pass
        params = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{params}", timeout=30) as resp:
            return [json.loads(line) for line in resp.read().splitlines() if line.strip()]
