"""Environment overrides (GRIDEDGE_<SECTION>__<KEY>) and secrets from env or files that never show."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from gateway.config import ConfigError, Secret, check_config, dump_config
from gateway.config.env import env_name
from tests.test_config_kit import BASE, load, only, problems, tree

HUNTER = "hunter2-Very$ecret"


class TestOverrides:
    """Every key can be set from the environment; values parse as YAML scalars unless the key is text."""

    def test_scalars_of_each_type(self, tmp_path: Path) -> None:
        env = {
            "GRIDEDGE_MQTT__URL": "mqtt://127.0.0.1:1884",
            "GRIDEDGE_MQTT__RECEIVE_MAXIMUM": "2000",
            "GRIDEDGE_MQTT__PROTOCOL": "3.1.1",
            "GRIDEDGE_JOURNAL__MAX_BYTES": "512MiB",
            "GRIDEDGE_JOURNAL__COMMIT_INTERVAL": "50ms",
            "GRIDEDGE_GATEWAY__ID": "123",
            "GRIDEDGE_GATEWAY__LOG_FORMAT": "json",
        }
        config = load(tree(tmp_path), env).config
        assert config.mqtt.url == "mqtt://127.0.0.1:1884" and config.mqtt.port == 1884
        assert config.mqtt.receive_maximum == 2000
        assert config.mqtt.protocol == "3.1.1"
        assert config.journal.max_bytes == 512 * 1024**2
        assert config.journal.commit_interval == pytest.approx(0.05)
        assert config.gateway.id == "123"  # a text key keeps the text, not the int YAML would make
        assert config.gateway.log_format == "json"

    def test_nested_keys_and_list_items(self, tmp_path: Path) -> None:
        edge = BASE + "mqtt:\n  subscriptions:\n    - {topic: 'a/+', template: 'a/{device}'}\n"
        env = {
            "GRIDEDGE_MQTT__SUBSCRIPTIONS__0__QOS": "2",
            "GRIDEDGE_MQTT__SUBSCRIPTIONS__1__TOPIC": "b/+",
            "GRIDEDGE_MQTT__SUBSCRIPTIONS__1__TEMPLATE": "b/{device}",
            "GRIDEDGE_MQTT__RECONNECT__MAX_DELAY": "2m",
        }
        mqtt = load(tree(tmp_path, edge), env).config.mqtt
        assert [(s.topic, s.qos) for s in mqtt.subscriptions] == [("a/+", 2), ("b/+", 1)]
        assert mqtt.reconnect.max_delay == 120

    def test_a_whole_section_can_come_from_the_environment(self, tmp_path: Path) -> None:
        env = {
            "GRIDEDGE_INFLUX__VERSION": "2",
            "GRIDEDGE_INFLUX__URL": "http://127.0.0.1:8086/",
            "GRIDEDGE_INFLUX__ORG": "city",
            "GRIDEDGE_INFLUX__BUCKET": "grid",
            "GRIDEDGE_INFLUX__TOKEN": HUNTER,
            "GRIDEDGE_DEVICES__FILES": "[devices.yaml]",
        }
        influx = load(tree(tmp_path), env).config.influx
        assert influx is not None and influx.version == 2 and influx.url == "http://127.0.0.1:8086"
        assert influx.token is not None and influx.token.get() == HUNTER

    def test_names_without_double_underscore_are_not_config(self, tmp_path: Path) -> None:
        env = {"GRIDEDGE_HOME": "/somewhere", "GRIDEDGE_TEST_SEED": "3", "OTHER__X": "1"}
        assert load(tree(tmp_path), env).config.gateway.id == "test-edge"

    def test_unknown_key_names_the_variable(self, tmp_path: Path) -> None:
        problem = only(problems(tree(tmp_path), {"GRIDEDGE_MQTT__URLL": "mqtt://127.0.0.1:1"}))
        assert problem.file == "GRIDEDGE_MQTT__URLL (environment)" and problem.line == 0
        assert problem.key == "mqtt.urll" and "did you mean 'url'?" in problem.message
        assert str(problem).startswith("GRIDEDGE_MQTT__URLL (environment): mqtt.urll: unknown key")

    def test_bad_value_names_the_variable(self, tmp_path: Path) -> None:
        problem = only(problems(tree(tmp_path), {"GRIDEDGE_JOURNAL__MAX_BYTES": "lots"}))
        assert (problem.file, problem.key) == ("GRIDEDGE_JOURNAL__MAX_BYTES (environment)", "journal.max_bytes")

    def test_index_past_the_end(self, tmp_path: Path) -> None:
        problem = only(problems(tree(tmp_path), {"GRIDEDGE_MQTT__SUBSCRIPTIONS__3__QOS": "1"}))
        assert problem.file.startswith("GRIDEDGE_MQTT__SUBSCRIPTIONS__3__QOS") and "past the end" in problem.message

    def test_key_under_a_scalar(self, tmp_path: Path) -> None:
        problem = only(problems(tree(tmp_path), {"GRIDEDGE_GATEWAY__ID__X": "1"}))
        assert "gateway.id is not a mapping" in problem.message

    def test_env_name_of_a_path(self) -> None:
        assert env_name(("mqtt", "subscriptions", 0, "qos")) == "GRIDEDGE_MQTT__SUBSCRIPTIONS__0__QOS"


class TestSecrets:
    """A Secret comes from a literal, env:NAME or file:PATH, and shows only as *** (or its reference)."""

    def _edge(self, password: str) -> str:
        return BASE + f"mqtt:\n  username: edge\n  password: {password}\n"

    def test_from_environment_variable(self, tmp_path: Path) -> None:
        loaded = load(tree(tmp_path, self._edge("env:BROKER_PASS")), {"BROKER_PASS": HUNTER})
        secret = loaded.config.mqtt.password
        assert secret is not None and secret.get() == HUNTER
        assert (str(secret), repr(secret), secret.source) == ("***", "Secret(***)", "env")
        dump = dump_config(loaded)
        assert HUNTER not in dump and "password: env:BROKER_PASS" in dump
        assert HUNTER not in repr(loaded) and HUNTER not in repr(loaded.config)

    def test_from_file_stripped(self, tmp_path: Path) -> None:
        (tmp_path / "secrets").mkdir()
        (tmp_path / "secrets" / "broker").write_text(f"  {HUNTER}\n", encoding="utf-8")
        loaded = load(tree(tmp_path, self._edge("file:secrets/broker")))
        secret = loaded.config.mqtt.password
        assert secret is not None and secret.get() == HUNTER and secret.source == "file"
        assert HUNTER not in dump_config(loaded)

    def test_literal_is_masked_and_warned(self, tmp_path: Path) -> None:
        path = tree(tmp_path, self._edge(HUNTER))
        loaded = load(path)
        assert HUNTER not in dump_config(loaded) and "password: '***'" in dump_config(loaded)
        errors, warnings = check_config(path, {})
        assert errors == []
        assert any("edge.yaml:9: mqtt.password: secret written literally" in w for w in warnings), warnings
        assert all(HUNTER not in w for w in warnings)

    def test_literal_from_environment_is_not_warned(self, tmp_path: Path) -> None:
        env = {"GRIDEDGE_MQTT__USERNAME": "edge", "GRIDEDGE_MQTT__PASSWORD": HUNTER}
        errors, warnings = check_config(tree(tmp_path), env)
        assert errors == [] and not any("literally" in w for w in warnings)

    def test_missing_variable_is_a_problem_without_values(self, tmp_path: Path) -> None:
        problem = only(problems(tree(tmp_path, self._edge("env:NOT_SET"))))
        assert (problem.line, problem.key) == (9, "mqtt.password")
        assert "environment variable 'NOT_SET' is not set" in problem.message

    def test_missing_file(self, tmp_path: Path) -> None:
        problem = only(problems(tree(tmp_path, self._edge("file:nowhere"))))
        assert problem.key == "mqtt.password" and "cannot read secret file" in problem.message

    def test_never_in_errors(self, tmp_path: Path) -> None:
        edge = BASE + (
            f"mqtt:\n  username: edge\n  password: {HUNTER}\n  passwrd: {HUNTER}\n  receive_maximum: 1\n"
            f"influx:\n  version: 1\n  url: http://127.0.0.1:8086\n  db: d\n  token: {HUNTER}\n"
            f"  password: [{HUNTER}]\n"
        )
        with pytest.raises(ConfigError) as caught:
            load(tree(tmp_path, edge))
        text = str(caught.value) + repr(caught.value.problems)
        assert len(caught.value.problems) >= 3
        assert HUNTER not in text
        assert caught.value.__context__ is None  # no pydantic error (which holds inputs) chained on

    def test_secret_cannot_be_pickled(self) -> None:
        with pytest.raises(TypeError):
            pickle.dumps(Secret(HUNTER))
