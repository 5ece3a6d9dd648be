"""The `dispatch` config section: validation with clear errors, secrets from env, settings for the worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.config.dispatch import DispatchConfig
from tests.test_webhook_kit import OLD_SECRET, SECRET


def load(data: dict[str, Any], env: dict[str, str] | None = None) -> DispatchConfig:
    """Validate a dispatch section as the loader does (env and base dir in the context)."""
    return DispatchConfig.model_validate(data, context={"env": env or {}, "base_dir": Path.cwd()})


CITY = {"name": "city", "url": "https://127.0.0.1:8443/hook", "secret": "env:CITY_SECRET"}


def test_full_section_builds_worker_settings_and_options() -> None:
    data = {
        "endpoints": [
            {**CITY, "previous_secret": OLD_SECRET, "fallback_url": "http://127.0.0.2:9000/hook"},
            {"name": "street-1", "url": "http://127.0.0.1:9001/", "secret": SECRET, "grid_prefixes": ["110101001"],
             "kinds": ["opened", "resolved"], "event_types": ["2003"], "timeout": "30s", "concurrency": 2},
        ],
        "retry": {"first_delay": "500ms", "max_delay": "10m"},
        "max_age": "3d",
        "escalation": {"community_after": "15m", "street_after": "1h", "district_after": "4h"},
        "outbox": {"max_events": 5000, "full_policy": "drop_oldest"},
        "backchannel_secret": SECRET,
    }  # fmt: skip
    config = load(data, {"CITY_SECRET": SECRET})
    settings = config.settings()
    city, street = settings.endpoints
    assert len(city.secrets) == 2 and city.fallback_url == "http://127.0.0.2:9000/hook"
    assert street.accepts("opened", "200302", "110101001001001")
    assert not street.accepts("updated", "200302", "110101001001001")
    assert not street.accepts("opened", "500106", "110101001001001")
    assert not street.accepts("opened", "200302", "110101002001001")
    assert street.timeout == 30.0 and settings.retry.first_delay == 0.5 and settings.max_age == 3 * 86400
    options = config.outbox_options()
    assert options.full_policy == "drop_oldest" and options.escalation.after == (900.0, 3600.0, 14400.0)
    assert len(config.backchannel_keys()[0]) == 32
    assert "whsec" not in repr(config) and "whsec" not in config.model_dump_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"endpoints": []}, "at least 1"),
        ({"endpoints": [CITY, CITY]}, "repeated: city"),
        ({"endpoints": [{**CITY, "url": "ftp://127.0.0.1/x"}]}, "http:// or https://"),
        ({"endpoints": [{**CITY, "url": "http://user:pw@127.0.0.1/x"}]}, "must not embed credentials"),
        ({"endpoints": [{**CITY, "secret": "whsec_c2hvcnQ="}]}, "at least 16"),
        ({"endpoints": [{**CITY, "secret": "env:MISSING"}]}, "MISSING"),
        ({"endpoints": [{**CITY, "grid_prefixes": ["11a"]}]}, "1 to 15 digits"),
        ({"endpoints": [{**CITY, "bogus": 1}]}, "Extra inputs"),
        ({"escalation": {"community_after": "2h"}}, "community_after < street_after"),
        ({"retry": {"first_delay": "1m", "max_delay": "1s"}}, "below first_delay"),
        ({"outbox": {"full_policy": "forget"}}, "block"),
    ],
)
def test_bad_sections_fail_with_a_clear_message(change: dict[str, Any], message: str) -> None:
    data: dict[str, Any] = {"endpoints": [CITY], **change}
    with pytest.raises(ValidationError, match=message):
        load(data, {"CITY_SECRET": SECRET})
