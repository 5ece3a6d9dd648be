"""Notice when any file of the running configuration changes (edge.yaml, devices, grids, rules)."""

from __future__ import annotations

from pathlib import Path

from gateway.config.loader import LoadedConfig
from gateway.config.rules import RulesConfig


def watched_files(loaded: LoadedConfig) -> list[Path]:
    """Every file the configuration was loaded from."""
    config = loaded.config
    files = [loaded.path, *config.devices.files, *config.grids.files, *config.grids.geojson]
    rules = loaded.section("rules", RulesConfig)
    if rules is not None:
        files.append(rules.file)
        if rules.event_types is not None:
            files.append(rules.event_types)
    return [Path(f) for f in files]


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1)
    return (stat.st_mtime_ns, stat.st_size)


class ConfigWatcher:
    """Polls the config's files; `changed()` is true once per change (SIGHUP reloads without it)."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.reset(loaded)

    def reset(self, loaded: LoadedConfig) -> None:
        """Watch the files of `loaded` from their current state."""
        self._stamps = {path: _stamp(path) for path in watched_files(loaded)}

    def changed(self) -> bool:
        """Whether any watched file changed since the last call (or reset)."""
        now = {path: _stamp(path) for path in self._stamps}
        if now == self._stamps:
            return False
        self._stamps = now
        return True
