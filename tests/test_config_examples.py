"""The example configs in config/ load cleanly, the JSON Schema file is in sync, sections plug in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from gateway.config import check_config, dump_config, export_json_schema, load_config, register_section
from gateway.config import sections as sections_module
from tests.test_config_kit import BASE, CONFIG_DIR, load, tree


def test_example_config_loads_cleanly() -> None:
    errors, warnings = check_config(CONFIG_DIR / "edge.yaml", {})
    assert errors == [] and warnings == []
    loaded = load_config(CONFIG_DIR / "edge.yaml", {})
    registry = loaded.registry
    assert len(registry) >= 12 and len(registry.cells()) >= 5
    assert {d.kind for d in registry.devices()} >= {"dust", "water", "fire", "smoke", "noise", "weather"}
    assert all(d.grid.district == "110105" and len(d.grid.code) == 15 for d in registry.devices())
    assert loaded.config.mqtt.embedded_broker == "auto" and loaded.config.influx is None
    assert [s.template for s in loaded.config.mqtt.subscriptions] == [
        "grid/{grid}/{kind}/{device}",
        "sensors/{device}/{kind}",
    ]


def test_example_devices_lie_in_their_own_cells() -> None:
    registry = load_config(CONFIG_DIR / "edge.yaml", {}).registry
    placed = [d for d in registry.devices() if d.location is not None]
    assert len(placed) >= 8
    assert [d.id for d in placed if registry.locate(*d.location) != d.grid] == []  # type: ignore[misc]


def test_example_csv_imports(tmp_path: Path) -> None:
    edge = (CONFIG_DIR / "edge.yaml").read_text(encoding="utf-8").replace("[devices.yaml]", "[devices.example.csv]")
    path = CONFIG_DIR / "edge.yaml"
    target = tmp_path / "edge.yaml"
    target.write_text(edge.replace("[grids.yaml]", f"[{CONFIG_DIR / 'grids.yaml'}]"), encoding="utf-8")
    target.write_text(
        target.read_text(encoding="utf-8")
        .replace("[devices.example.csv]", f"[{CONFIG_DIR / 'devices.example.csv'}]")
        .replace("[grids.geojson]", f"[{CONFIG_DIR / 'grids.geojson'}]")
        .replace("file: rules.yaml", f"file: {CONFIG_DIR / 'rules.yaml'}")
        .replace("event_types: event_types.yaml", f"event_types: {CONFIG_DIR / 'event_types.yaml'}"),
        encoding="utf-8",
    )
    assert path.exists()
    registry = load_config(target, {}).registry
    dust = registry.device("010000A8900016F000169DD0")
    assert dust is not None and dust.id == "dust-0101"
    assert dict(dust.units) == {"pm25": "ug/m3", "pm10": "ug/m3", "tsp": "ug/m3"}
    assert dust.location == (39.9101, 116.4455) and dust.interval == 60 and dict(dust.tags) == {"site": "cbd-z21"}
    second = registry.device("dust-0102")
    assert second is not None and dict(second.scale) == {"tsp": 1000.0} and second.aliases == ()
    smoke = registry.device("smoke-0101")
    assert smoke is not None and smoke.units == {} and smoke.location is None and smoke.interval == 600


def test_schema_file_is_in_sync() -> None:
    """Regenerate with: python edge.py schema --output config/edge.schema.json (or python -m gateway.config schema)."""
    written = json.loads((CONFIG_DIR / "edge.schema.json").read_text(encoding="utf-8"))
    assert written == export_json_schema()


def test_schema_describes_every_field() -> None:
    schema = export_json_schema()
    missing = [
        f"{name}.{key}"
        for name, definition in schema["$defs"].items()
        for key, prop in definition.get("properties", {}).items()
        if "description" not in prop
    ]
    assert missing == []
    assert all(definition.get("additionalProperties") is False for definition in schema["$defs"].values())


def test_dump_is_effective_and_reloadable(tmp_path: Path) -> None:
    loaded = load(tree(tmp_path, BASE + "mqtt:\n  keepalive: 90\n"))
    text = dump_config(loaded)
    assert "keepalive: 1m30s" not in text and "keepalive: 90s" in text
    assert f"path: {tmp_path / 'var' / 'journal.db'}" in text
    (tmp_path / "dumped.yaml").write_text(text, encoding="utf-8")
    again = load(tmp_path / "dumped.yaml")
    assert dump_config(again) == text and again.config.mqtt == loaded.config.mqtt


def test_check_warns_about_sessions_that_cannot_persist(tmp_path: Path) -> None:
    edge = BASE + (
        "mqtt:\n  protocol: 3.1.1\n  session_expiry: 0\n"
        "  subscriptions:\n    - {topic: 'a/+', template: 'a/{device}', qos: 0}\n"
    )
    errors, warnings = check_config(tree(tmp_path, edge), {})
    assert errors == []
    joined = "\n".join(warnings)
    assert "edge.yaml:8: mqtt.protocol: MQTT 3.1.1" in joined
    assert "edge.yaml:9: mqtt.session_expiry: the session cannot be persisted" in joined
    assert "edge.yaml:11: mqtt.subscriptions[0].qos: QoS 0" in joined


def test_check_warns_when_location_and_grid_disagree(tmp_path: Path) -> None:
    geo = (
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "110105001001001"},'
        ' "geometry": {"type": "Polygon", "coordinates": [[[116, 39], [117, 39], [117, 40], [116, 39]]]}}]}'
    )
    devices = "- {id: d-1, kind: dust, grid: '110105001001002', location: [39.2, 116.9]}\n"
    path = tree(tmp_path, BASE + "  geojson: [cells.geojson]\n", cells__geojson=geo, devices__yaml=devices)
    errors, warnings = check_config(path, {})
    assert errors == []
    expected = "devices.yaml:1: d-1.location: lies in cell 110105001001001 but grid is 110105001001002"
    assert expected in "\n".join(warnings)


def test_check_reports_errors(tmp_path: Path) -> None:
    errors, warnings = check_config(tree(tmp_path, BASE + "mqtt:\n  qso: 1\n"), {})
    assert [str(e).split(": ", 1)[1][:9] for e in errors] == ["mqtt.qso:"] and warnings == []


class _Rules(BaseModel):
    """Rules section plugged in by another part."""

    model_config = ConfigDict(extra="forbid")
    files: list[str] = Field(default_factory=list, description="Rule files.")


def test_plugged_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sections_module, "_registered", {})
    register_section("example", _Rules)
    try:
        loaded = load(tree(tmp_path, BASE + "example:\n  files: [rules.yaml]\n"))
        section = loaded.section("example", _Rules)
        assert section is not None and section.files == ["rules.yaml"]
        assert "example" in export_json_schema()["properties"]
        errors, _ = check_config(tree(tmp_path, BASE + "example:\n  fils: []\n"), {})
        assert [(e.line, e.key) for e in errors] == [(8, "example.fils")]
        with pytest.raises(ValueError, match="core section"):
            register_section("mqtt", _Rules)
    finally:
        sections_module._registered.clear()
        sections_module.root_model.cache_clear()
    assert "example" not in export_json_schema()["properties"]


def test_docs_reference_is_in_sync() -> None:
    """Regenerate with: python -m gateway.config docs."""
    from gateway.config.reference import update_document

    text = (CONFIG_DIR.parent / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert update_document(text) == text
