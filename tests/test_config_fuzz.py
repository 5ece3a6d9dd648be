"""Whatever an operator writes, loading ends in a config or a ConfigError with located problems, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import ConfigError, load_config
from tests.test_config_kit import DEVICES, GRIDS

pytestmark = pytest.mark.usefixtures("isolated_secrets")
"""Random strings loaded as secrets would be masked in every later test's logs: the registry is put back."""

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["30s", "1GiB", "mqtt://127.0.0.1:1883", "env:NOPE", "file:nope", "grid/+/+", "{device}"]),
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
KEYS = {
    "mqtt": ["url", "protocol", "keepalive", "receive_maximum", "subscriptions", "tls", "password", "max_payload"],
    "journal": ["max_bytes", "full_policy", "commit_interval"],
    "devices": ["files", "unknown_policy", "quarantine_grid"],
    "influx": ["version", "url", "token", "db"],
}
SECTIONS = st.fixed_dictionaries(
    {
        "gateway": st.fixed_dictionaries(
            {"id": st.just("fuzz")}, optional={"log_level": VALUES, "data_dir": VALUES, "log_format": VALUES}
        )
    },
    optional={section: st.dictionaries(st.sampled_from(keys), VALUES, max_size=4) for section, keys in KEYS.items()},
)


def _load(text: str) -> None:
    """Load a config text next to the standard grids and devices files."""
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        (root / "grids.yaml").write_text(GRIDS, encoding="utf-8")
        (root / "devices.yaml").write_text(DEVICES, encoding="utf-8")
        (root / "edge.yaml").write_text(text, encoding="utf-8")
        try:
            load_config(root / "edge.yaml", {})
        except ConfigError as exc:
            assert exc.problems
            assert all(problem.file and problem.message for problem in exc.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SECTIONS)
def test_random_values_under_real_keys(data: dict[str, Any]) -> None:
    _load(yaml.safe_dump(data, allow_unicode=True))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:- \n[]{}&*!|>'\"#,?0.<%@`")), max_size=60))
def test_random_text(text: str) -> None:
    _load(text)
