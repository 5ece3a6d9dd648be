"""Every class of config error names its file, line and dotted key, says what is wrong and how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError
from tests.test_config_kit import BASE, load, only, problems, tree, write


def test_valid_tree_loads(tmp_path: Path) -> None:
    loaded = load(tree(tmp_path))
    assert loaded.config.gateway.id == "test-edge"
    assert [d.id for d in loaded.registry.devices()] == ["dust-0001", "water-0001"]


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE + "mqtt:\n  url: [mqtt://x\n")
    problem = only(problems(path))
    assert (problem.file.endswith("edge.yaml"), problem.line) == (True, 9)
    assert "invalid YAML" in problem.message and "flow sequence started at line 8" in problem.message


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    edge = BASE + "mqtt:\n  subscriptions:\n    - topic: a/+\n      template: a/{device}\n      qso: 1\n"
    problem = only(problems(tree(tmp_path, edge)))
    assert (problem.line, problem.key) == (11, "mqtt.subscriptions[0].qso")
    assert "unknown key 'qso'; did you mean 'qos'?" in problem.message
    assert str(problem).endswith(f"edge.yaml:11: mqtt.subscriptions[0].qso: {problem.message}")


def test_unknown_section(tmp_path: Path) -> None:
    problem = only(problems(tree(tmp_path, BASE + "jornal:\n  max_bytes: 1GiB\n")))
    assert (problem.line, problem.key) == (7, "jornal")
    assert "did you mean 'journal'?" in problem.message


@pytest.mark.parametrize(
    ("snippet", "line", "key", "words"),
    [
        ("mqtt:\n  receive_maximum: lots\n", 8, "mqtt.receive_maximum", ["integer", "'lots'", "Receive Maximum"]),
        ("mqtt:\n  receive_maximum: 20\n", 8, "mqtt.receive_maximum", ["greater than or equal to 1000"]),
        ("gateway2: 1\n", 7, "gateway2", ["unknown key"]),
        ("mqtt:\n  keepalive: 5 minutes\n", 8, "mqtt.keepalive", ["not a duration", '"5m"']),
        ("journal:\n  max_bytes: 1gigabyte\n", 8, "journal.max_bytes", ["unknown unit", "1GiB"]),
        ("journal:\n  full_policy: drop\n", 8, "journal.full_policy", ["'block' or 'drop_oldest'", "got 'drop'"]),
        ("mqtt:\n  url: http://127.0.0.1:1883\n", 8, "mqtt.url", ["mqtt://", "mqtts://"]),
        ("mqtt:\n  url: mqtt://127.0.0.1:99999\n", 8, "mqtt.url", ["invalid port"]),
        ("mqtt:\n  protocol: 4\n", 8, "mqtt.protocol", ["'5' or '3.1.1'"]),
    ],
)
def test_wrong_values(tmp_path: Path, snippet: str, line: int, key: str, words: list[str]) -> None:
    problem = only(problems(tree(tmp_path, BASE + snippet)))
    assert (problem.line, problem.key) == (line, key), str(problem)
    for word in words:
        assert word in problem.message, str(problem)


def test_literal_suggests_close_choice(tmp_path: Path) -> None:
    edge = BASE.replace("  id: test-edge\n", "  id: test-edge\n  log_format: jsno\n")
    problem = only(problems(tree(tmp_path, edge)))
    assert (problem.line, problem.key) == (3, "gateway.log_format")
    assert "did you mean 'json'?" in problem.message


def test_missing_required_key(tmp_path: Path) -> None:
    problem = only(problems(tree(tmp_path, BASE.replace("  id: test-edge\n", "  log_level: info\n"))))
    assert (problem.line, problem.key) == (1, "gateway.id")
    assert "required key 'id' is missing; add it" in problem.message


def test_bad_gateway_id(tmp_path: Path) -> None:
    problem = only(problems(tree(tmp_path, BASE.replace("test-edge", '"edge 1"'))))
    assert (problem.line, problem.key) == (2, "gateway.id")
    assert "pattern" in problem.message and "letters, digits" in problem.message


@pytest.mark.parametrize(
    ("topic", "template", "words"),
    [
        ("grid/+/+/+", "grid/{grid}/{device}", ["3 levels", "matches 4"]),
        ("grid/+/+", "grid/{device}/dust", ["literal 'dust'", "placeholder"]),
        ("grid/+/+", "grid/{kind}/{kind}", ["appears twice"]),
        ("grid/+/+", "grid/{kind}/{grid}", ["no {device}"]),
        ("grid/+/+", "grid/x{kind}/{device}", ["not a whole placeholder"]),
        ("site/+/+", "grid/{kind}/{device}", ["'site' in the topic but 'grid'"]),
    ],
)
def test_template_must_fit_topic(tmp_path: Path, topic: str, template: str, words: list[str]) -> None:
    edge = BASE + f"mqtt:\n  subscriptions:\n    - topic: {topic}\n      template: {template}\n"
    problem = only(problems(tree(tmp_path, edge)))
    assert (problem.key, problem.line) == ("mqtt.subscriptions[0].template", 10), str(problem)
    for word in words:
        assert word in problem.message, str(problem)


@pytest.mark.parametrize(("topic", "words"), [("a/#/b", ["'#' must be"]), ("a/b+/c", ["'+' must be a whole level"])])
def test_topic_filter_must_be_valid(tmp_path: Path, topic: str, words: list[str]) -> None:
    edge = BASE + f"mqtt:\n  subscriptions:\n    - topic: {topic}\n      template: a/{{device}}/c\n"
    problem = only(problems(tree(tmp_path, edge)))
    assert (problem.line, problem.key) == (9, "mqtt.subscriptions[0].topic")
    assert all(word in problem.message for word in words)


def test_template_accepts_shared_and_multilevel_filters(tmp_path: Path) -> None:
    edge = BASE + (
        "mqtt:\n  subscriptions:\n"
        "    - {topic: $share/edge/grid/+/+/+, template: 'grid/{grid}/{kind}/{device}'}\n"
        "    - {topic: 'sensors/#', template: 'sensors/{device}/{kind}', codec: number, fields: {level: value}}\n"
        "    - {topic: 'site/cbd/+', template: 'site/{site}/{device}', kind: dust}\n"
    )
    subs = load(tree(tmp_path, edge)).config.mqtt.subscriptions
    assert [s.codec for s in subs] == ["json", "number", "json"]


def test_json_only_settings_need_json_codec(tmp_path: Path) -> None:
    edge = BASE + (
        "mqtt:\n  subscriptions:\n    - topic: a/+\n      template: a/{device}\n      codec: line\n"
        "      timestamp: {path: ts, unit: ms}\n"
    )
    problem = only(problems(tree(tmp_path, edge)))
    assert (problem.key, problem.line) == ("mqtt.subscriptions[0].timestamp", 12)
    assert "set codec: json" in problem.message


def test_json_field_spec(tmp_path: Path) -> None:
    edge = BASE + (
        "mqtt:\n  subscriptions:\n    - topic: a/+\n      template: a/{device}\n      fields:\n"
        "        pm10: data.pm10\n        level: {path: v.0, type: flaot}\n"
    )
    problem = only(problems(tree(tmp_path, edge)))
    assert (problem.key, problem.line) == ("mqtt.subscriptions[0].fields.level.type", 13)
    assert "did you mean 'float'?" in problem.message


def test_duplicate_key(tmp_path: Path) -> None:
    problem = only(problems(tree(tmp_path, BASE + "mqtt:\n  keepalive: 30s\n  keepalive: 60s\n")))
    assert (problem.line, problem.key) == (9, "mqtt.keepalive")
    assert "also set at line 8" in problem.message


@pytest.mark.parametrize(
    ("snippet", "key", "line", "words"),
    [
        ("influx:\n  version: 2\n  url: http://127.0.0.1:8086\n  org: o\n  bucket: b\n", "influx.token", 7, ["token"]),
        ("influx:\n  version: 1\n  url: http://127.0.0.1:8086\n  db: d\n  bucket: b\n", "influx.bucket", 11, ["not"]),
        ("influx:\n  version: 1\n  url: 127.0.0.1:8086\n  db: d\n", "influx.url", 9, ["http(s) url"]),
        ("mqtt:\n  tls: {insecure: true}\n", "mqtt.tls", 8, ["mqtts://"]),
        ("mqtt:\n  url: mqtts://127.0.0.1:8883\n  tls: {ca_file: ca.pem}\n", "mqtt.tls.ca_file", 9, ["does not exist"]),
        ("mqtt:\n  reconnect: {min_delay: 10s, max_delay: 1s}\n", "mqtt.reconnect.max_delay", 8, ["below min_delay"]),
        ("mqtt:\n  password: x\n", "mqtt.username", 7, ["without username"]),
        ("api:\n  public_url: edge-07:8443\n", "api.public_url", 8, ["http:// or https://"]),
        ("api:\n  public_url: https://u:p@edge-07:8443\n", "api.public_url", 8, ["credentials"]),
        ("api:\n  public_url: https://edge-07:8443/?x=1\n", "api.public_url", 8, ["without ?query"]),
    ],
)
def test_cross_field_problems_name_the_key(tmp_path: Path, snippet: str, key: str, line: int, words: list[str]) -> None:
    problem = only(problems(tree(tmp_path, BASE + snippet)))
    assert (problem.key, problem.line) == (key, line), str(problem)
    assert all(word in problem.message for word in words), str(problem)


def test_missing_device_file(tmp_path: Path) -> None:
    edge = BASE.replace("[devices.yaml]", "[devices.yaml, more.csv]")
    problem = only(problems(tree(tmp_path, edge)))
    assert (problem.line, problem.key) == (4, "devices.files[1]")
    assert "more.csv" in problem.message and "does not exist" in problem.message


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    edge = BASE + "mqtt:\n  keepalive: soon\n  qos: 1\njournal:\n  max_bytes: -5\n"
    devices = "- id: dust-0001\n  kind: dust\n  grid: '110105009009009'\n"
    found = problems(tree(tmp_path, edge, devices__yaml=devices))
    assert [(p.file.rsplit("/", 1)[-1], p.key, p.line) for p in found] == [
        ("devices.yaml", "dust-0001.grid", 3),
        ("edge.yaml", "mqtt.keepalive", 8),
        ("edge.yaml", "mqtt.qos", 9),
        ("edge.yaml", "journal.max_bytes", 11),
    ]
    message = str(ConfigError(found))
    assert message.startswith("4 problems in the configuration:")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    problem = only(problems(write(tmp_path, {"edge.yaml": "- gateway\n"})))
    assert problem.line == 1 and "mapping of sections" in problem.message


def test_missing_config_file(tmp_path: Path) -> None:
    problem = only(problems(tmp_path / "nope.yaml"))
    assert "cannot read the config file" in problem.message


class TestDeviceFiles:
    """Problems in device files carry the device file's line and the device's id."""

    def test_dangling_grid_reference(self, tmp_path: Path) -> None:
        devices = "- id: dust-0001\n  kind: dust\n  grid: '110105001001001'\n- id: dust-0002\n  kind: dust\n"
        devices += "  grid: '110105001001003'\n"
        problem = only(problems(tree(tmp_path, devices__yaml=devices)))
        assert problem.file.endswith("devices.yaml")
        assert (problem.line, problem.key) == (6, "dust-0002.grid")
        assert "110105001001003 is not in the grids files" in problem.message
        assert "did you mean 11010500100100" in problem.message

    @pytest.mark.parametrize("code", ["1101050010010", "1101050010010011", "11010500100100A"])
    def test_bad_grid_code(self, tmp_path: Path, code: str) -> None:
        devices = f"- id: dust-0001\n  kind: dust\n  units: {{pm10: ug/m3}}\n  grid: '{code}'\n"
        problem = only(problems(tree(tmp_path, devices__yaml=devices)))
        assert (problem.line, problem.key) == (4, "dust-0001.grid")
        assert "15 or 14 digits" in problem.message

    def test_fourteen_digit_code_is_accepted(self, tmp_path: Path) -> None:
        devices = "- {id: dust-0001, kind: dust, grid: 11010500300201}\n"
        loaded = load(tree(tmp_path, devices__yaml=devices))
        device = loaded.registry.device("dust-0001")
        assert device is not None and device.grid.name == "呼家楼街道 老编码网格"

    def test_duplicate_id_names_both_places(self, tmp_path: Path) -> None:
        devices = "- {id: dust-0001, kind: dust, grid: '110105001001001'}\n"
        devices += "- {id: dust-0001, kind: water, grid: '110105001001002'}\n"
        problem = only(problems(tree(tmp_path, devices__yaml=devices)))
        assert (problem.line, problem.key) == (2, "dust-0001.id")
        assert "devices.yaml:1" in problem.message

    def test_alias_clash_across_files(self, tmp_path: Path) -> None:
        edge = BASE.replace("[devices.yaml]", "[devices.yaml, more.yaml]")
        more = "- {id: dust-0009, kind: dust, grid: '110105001001001', aliases: [MN0001]}\n"
        problem = only(problems(tree(tmp_path, edge, more__yaml=more)))
        assert problem.file.endswith("more.yaml") and problem.key == "dust-0009.aliases"
        assert "'MN0001' is already used by device 'dust-0001'" in problem.message

    def test_unknown_device_key(self, tmp_path: Path) -> None:
        devices = "- id: dust-0001\n  kind: dust\n  grid: '110105001001001'\n  unist: {pm10: ug/m3}\n"
        problem = only(problems(tree(tmp_path, devices__yaml=devices)))
        assert (problem.line, problem.key) == (4, "dust-0001.unist")
        assert "did you mean 'units'?" in problem.message

    def test_bad_values(self, tmp_path: Path) -> None:
        devices = (
            "- id: dust-0001\n  kind: Dust\n  grid: '110105001001001'\n"
            "- id: dust-0002\n  kind: dust\n  grid: '110105001001001'\n  location: [116.4, 39.9]\n"
            "- id: dust-0003\n  kind: dust\n  grid: '110105001001001'\n  interval: often\n"
            "- kind: dust\n  grid: '110105001001001'\n"
        )
        found = problems(tree(tmp_path, devices__yaml=devices))
        assert [(p.line, p.key) for p in found] == [
            (2, "dust-0001.kind"),
            (7, "dust-0002.location"),
            (11, "dust-0003.interval"),
            (12, "[3].id"),
        ]
        assert "latitude first" in found[1].message

    def test_device_file_must_be_a_list(self, tmp_path: Path) -> None:
        problem = only(problems(tree(tmp_path, devices__yaml="dust-0001: {kind: dust}\n")))
        assert problem.file.endswith("devices.yaml") and "a list of devices" in problem.message

    def test_device_yaml_syntax(self, tmp_path: Path) -> None:
        problem = only(problems(tree(tmp_path, devices__yaml="- id: a\n  kind: [dust\n")))
        assert problem.file.endswith("devices.yaml") and problem.line == 3

    def test_location_outside_every_polygon(self, tmp_path: Path) -> None:
        edge = BASE + "  geojson: [cells.geojson]\n"
        geo = (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "110105001001001"},'
            ' "geometry": {"type": "Polygon", "coordinates": [[[116, 39], [117, 39], [117, 40], [116, 39]]]}}]}'
        )
        devices = "- {id: w-1, kind: weather, location: [10, 10]}\n- {id: w-2, kind: weather}\n"
        found = problems(tree(tmp_path, edge, cells__geojson=geo, devices__yaml=devices))
        assert [(p.line, p.key) for p in found] == [(1, "w-1.location"), (2, "w-2.grid")]


class TestCsv:
    """CSV device files: line numbers count the header; unknown columns are errors."""

    def test_bad_row_has_its_line(self, tmp_path: Path) -> None:
        edge = BASE.replace("[devices.yaml]", "[devices.csv]")
        csv = "id,kind,grid,units\ndust-1,dust,110105001001001,pm10:ug/m3\ndust-2,dust,110105001001001,pm10=ug\n"
        problem = only(problems(tree(tmp_path, edge, devices__csv=csv)))
        assert (problem.file.endswith("devices.csv"), problem.line, problem.key) == (True, 3, "dust-2.units")
        assert "name:value pairs" in problem.message

    def test_unknown_column(self, tmp_path: Path) -> None:
        edge = BASE.replace("[devices.yaml]", "[devices.csv]")
        csv = "id,kind,grid,unit\ndust-1,dust,110105001001001,pm10:ug/m3\n"
        problem = only(problems(tree(tmp_path, edge, devices__csv=csv)))
        assert (problem.line, problem.key) == (1, "unit")
        assert "did you mean 'units'?" in problem.message

    def test_extra_cells(self, tmp_path: Path) -> None:
        edge = BASE.replace("[devices.yaml]", "[devices.csv]")
        csv = "id,kind,grid\ndust-1,dust,110105001001001,oops\n"
        problem = only(problems(tree(tmp_path, edge, devices__csv=csv)))
        assert (problem.line, problem.key) == (2, "dust-1.(extra cells)")


class TestGridFiles:
    """Problems in grid files: bad codes, duplicates, GeoJSON features."""

    def test_bad_cell_code(self, tmp_path: Path) -> None:
        grids = "- code: '110105001001001'\n- code: '11010500100'\n  name: short\n"
        devices = "- {id: d, kind: dust, grid: '110105001001001'}\n"
        problem = only(problems(tree(tmp_path, grids__yaml=grids, devices__yaml=devices)))
        assert (problem.file.endswith("grids.yaml"), problem.line, problem.key) == (True, 2, "[1].code")

    def test_duplicate_cell(self, tmp_path: Path) -> None:
        grids = "- code: '110105001001001'\n- code: '110105001001001'\n"
        devices = "- {id: d, kind: dust, grid: '110105001001001'}\n"
        problem = only(problems(tree(tmp_path, grids__yaml=grids, devices__yaml=devices)))
        assert problem.line == 2 and "grids.yaml:1" in problem.message

    def test_geojson_problems_have_feature_lines(self, tmp_path: Path) -> None:
        edge = BASE + "  geojson: [cells.geojson]\n"
        geo = """\
        {"type": "FeatureCollection", "features": [
          {"type": "Feature", "properties": {"code": "110105001001001"},
           "geometry": {"type": "Polygon", "coordinates": [[[116, 39], [117, 39], [117, 40], [116, 39]]]}},
          {"type": "Feature", "properties": {"code": "110105001009999"},
           "geometry": {"type": "Polygon", "coordinates": [[[116, 39], [117, 39], [117, 40], [116, 39]]]}},
          {"type": "Feature", "properties": {"code": "110105001001002"},
           "geometry": {"type": "Point", "coordinates": [116, 39]}},
          {"type": "Feature", "properties": {"name": "no code"},
           "geometry": {"type": "Polygon", "coordinates": [[[116, 39], [117, 39], [117, 40], [116, 39]]]}},
          {"type": "Feature", "properties": {"code": "1101"},
           "geometry": {"type": "Polygon", "coordinates": [[[116, 39], [117, 39], [117, 40], [116, 39]]]}}
        ]}
        """
        found = problems(tree(tmp_path, edge, cells__geojson=geo))
        assert [(p.line, p.key) for p in found] == [
            (4, "code"),
            (6, "features[2]"),
            (8, "features[3]"),
            (10, "features[4].properties.code"),
        ]
        assert "Polygon or MultiPolygon" in found[1].message

    def test_geojson_syntax(self, tmp_path: Path) -> None:
        edge = BASE + "  geojson: [cells.geojson]\n"
        problem = only(problems(tree(tmp_path, edge, cells__geojson='{"type":\n "FeatureCollection",,}')))
        assert problem.line == 2 and "invalid JSON" in problem.message


class TestQuarantine:
    """The quarantine policy needs a known cell."""

    def test_quarantine_needs_a_cell(self, tmp_path: Path) -> None:
        edge = BASE.replace("  files: [devices.yaml]\n", "  files: [devices.yaml]\n  unknown_policy: quarantine\n")
        problem = only(problems(tree(tmp_path, edge)))
        assert (problem.line, problem.key) == (3, "devices.quarantine_grid")

    def test_quarantine_cell_must_exist(self, tmp_path: Path) -> None:
        edge = BASE.replace(
            "  files: [devices.yaml]\n",
            "  files: [devices.yaml]\n  unknown_policy: quarantine\n  quarantine_grid: '110105001001999'\n",
        )
        problem = only(problems(tree(tmp_path, edge)))
        assert (problem.line, problem.key) == (6, "devices.quarantine_grid")
        assert "not in the grids files" in problem.message
