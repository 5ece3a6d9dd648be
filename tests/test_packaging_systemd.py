"""deploy/gridedge.service and deploy/install.sh: the unit verifies and is hardened, the install script lints,
and the environment file it writes makes a valid config out of the example config."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import build
from gateway.config.api import ApiConfig
from gateway.config.loader import load_config
from gateway.config.units import parse_duration
from tests.test_packaging import DRAIN, REPO, instruction, tool

UNIT = REPO / "deploy" / "gridedge.service"
INSTALL = REPO / "deploy" / "install.sh"


def unit_entries() -> list[tuple[str, str, str]]:
    """(section, key, value) of every setting of the unit, in order (systemd allows repeated keys)."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def service() -> dict[str, str]:
    """The [Service] settings (the last of a repeated key)."""
    return {key: value for section, key, value in unit_entries() if section == "Service"}


def install_vars() -> dict[str, str]:
    """The NAME=value assignments at the top of install.sh."""
    return dict(re.findall(r"^([A-Z_]+)=([^$\s]\S*)$", INSTALL.read_text(), flags=re.MULTILINE))


def test_unit_is_hardened() -> None:
    settings = service()
    assert settings["User"] == "gridedge" and settings["Group"] == "gridedge"
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices", "ProtectKernelTunables",
                "ProtectControlGroups", "RestrictSUIDSGID", "LockPersonality"):  # fmt: skip
        assert settings[key] == "yes", key
    assert settings["ProtectSystem"] == "strict"
    writable = [value for _, key, value in unit_entries() if key == "ReadWritePaths"]
    assert writable == ["/var/lib/gridedge"], "only the journal directory may be writable"
    assert settings["CapabilityBoundingSet"] == ""


def test_unit_restarts_and_stops_after_the_drain() -> None:
    settings = service()
    assert settings["Restart"] == "on-failure" and parse_duration(settings["RestartSec"]) > 0
    assert settings["KillSignal"] == "SIGTERM" and settings["KillMode"] == "mixed"
    assert parse_duration(settings["TimeoutStopSec"]) >= 2 * DRAIN + 5


def test_unit_runs_the_same_command_as_the_image() -> None:
    settings, paths = service(), install_vars()
    exec_start = settings["ExecStart"].split()
    assert exec_start[0] == f"{paths['VENV']}/bin/python"
    entrypoint = instruction("ENTRYPOINT")[0]
    assert '"' + '", "'.join(exec_start[1:]) + '"' in entrypoint
    assert settings["WorkingDirectory"] == paths["APP"]
    assert service()["ReadWritePaths"] == paths["DATA"]
    assert f"{paths['ETC']}/gridedge.env" in settings["EnvironmentFile"]


def test_systemd_analyze_verify_and_security(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the unit's keys are checked by the tests above)")
    unit = tmp_path / "gridedge.service"  # ExecStart must exist for verify: point it at this interpreter
    unit.write_text(UNIT.read_text().replace("/opt/gridedge/venv/bin/python", sys.executable))
    verify = subprocess.run([analyze, "verify", str(unit)], check=False, capture_output=True, text=True)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    security = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(unit)], check=False, capture_output=True, text=True
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", security.stdout)
    assert match is not None, security.stdout[-2000:] + security.stderr
    print(f"systemd-analyze security: exposure {match[1]} {match[2]}")
    assert float(match[1]) <= 2.0, security.stdout[-3000:]


def test_install_script_lints() -> None:
    result = subprocess.run([tool("shellcheck"), str(INSTALL)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert subprocess.run(["bash", "-n", str(INSTALL)], check=False).returncode == 0


def test_install_environment_file_makes_a_valid_config(tmp_path: Path) -> None:
    """The gridedge.env that install.sh writes, on the config/ it copies to /etc/gridedge, loads cleanly."""
    text = INSTALL.read_text()
    body = text[text.index('"$ETC/gridedge.env" <<ENV\n') :].split("\n", 1)[1].split("\nENV\n", 1)[0]
    etc, data = tmp_path / "etc", tmp_path / "data"
    shutil.copytree(REPO / "config", etc)
    (etc / "secrets").mkdir()
    (etc / "secrets" / "mqtt_password").write_text("install-test-pw\n")
    body = body.replace("$ETC", str(etc)).replace("$DATA", str(data)).replace("$USER_NAME", "gridedge")
    env = dict(line.split("=", 1) for line in body.splitlines() if line and not line.startswith("#"))
    loaded = load_config(etc / "edge.yaml", env=env)
    config = loaded.config
    assert config.gateway.data_dir == data
    assert config.mqtt.embedded_broker == "off" and config.mqtt.username == "gridedge"
    assert config.mqtt.password is not None and config.mqtt.password.get() == "install-test-pw"
    assert build.journal_settings(config).path.parent == data
    api = loaded.section("api", ApiConfig)
    assert api is not None and (api.host, api.port) == ("127.0.0.1", 8080)
