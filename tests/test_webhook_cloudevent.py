"""The CloudEvents body: fields, the published JSON Schema of `data`, escalation levels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.webhook import EscalationPolicy, build_event, encode, escalate, next_escalation, routing
from adapters.webhook.cloudevent import rfc3339
from adapters.webhook.escalation import LEVELS
from gateway.model import IncidentEventKind
from tests.test_webhook_kit import GRID, T0, incident_event

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "docs" / "incident.schema.json").read_text())
S = 1_000_000_000


def event_data(**changes: Any) -> dict[str, Any]:
    """The decoded CloudEvent of a sample event with incident fields changed."""
    event = incident_event(1, 1)
    for key, value in changes.items():
        setattr(event.incident, key, value)
    cloud: dict[str, Any] = json.loads(encode(build_event(event, "gw-1", routing(GRID, "grid"), [])))
    return cloud


def test_data_validates_against_the_published_schema() -> None:
    jsonschema.validate(event_data()["data"], SCHEMA)
    resolved = incident_event(1, 3, kind=IncidentEventKind.RESOLVED)
    resolved.incident.values["verification"] = "passed"
    cloud = json.loads(encode(build_event(resolved, "gw-1", routing(GRID, "street"), [])))
    jsonschema.validate(cloud["data"], SCHEMA)
    assert cloud["data"]["verification"] == "passed" and cloud["data"]["resolved_at"].endswith("Z")


def test_a_cell_less_incident_has_no_subject_attribute_and_null_grid() -> None:
    cloud = event_data(grid=None, location=None)
    assert "subject" not in cloud and cloud["data"]["grid"] is None
    jsonschema.validate(cloud["data"], SCHEMA)


def test_non_finite_values_become_null_and_schema_refuses_extra_fields() -> None:
    data = event_data(values={"value": float("nan"), "flapping": True})["data"]
    assert data["values"] == {"value": None, "flapping": True}
    data["extra"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


def test_rfc3339_keeps_microseconds_in_utc() -> None:
    assert rfc3339(T0 + 123_456_789) == "2023-11-14T22:13:20.123456Z"


POLICY = EscalationPolicy((60.0, 120.0, 180.0))


@pytest.mark.parametrize(
    ("waited", "acked_at", "level"),
    [(0, None, "grid"), (59, None, "grid"), (60, None, "community"), (121, None, "street"),
     (10_000, None, "district"), (10_000, 61, "community"), (10_000, 0, "grid")],
)  # fmt: skip
def test_escalation_levels(waited: int, acked_at: int | None, level: str) -> None:
    acked = None if acked_at is None else T0 + acked_at * S
    assert escalate(T0, acked, T0 + waited * S, POLICY) == level


def test_next_escalation_and_disabled_policy() -> None:
    assert next_escalation(T0, None, T0, POLICY) == T0 + 60 * S
    assert next_escalation(T0, None, T0 + 150 * S, POLICY) == T0 + 180 * S
    assert next_escalation(T0, None, T0 + 200 * S, POLICY) is None
    assert next_escalation(T0, T0, T0, POLICY) is None
    assert escalate(T0, None, T0 + 10**6 * S, EscalationPolicy(enabled=False)) == "grid"
    with pytest.raises(ValueError, match="increasing"):
        EscalationPolicy((120.0, 60.0))


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_escalation_never_goes_down_with_time(a: int, b: int) -> None:
    first, second = sorted((a, b))
    before = LEVELS.index(escalate(T0, None, T0 + first * S, POLICY))
    assert before <= LEVELS.index(escalate(T0, None, T0 + second * S, POLICY))


def test_routing_codes_per_level() -> None:
    assert [routing(GRID, level)["code"] for level in LEVELS] == [GRID.code, GRID.community, GRID.street, GRID.district]
    assert routing(None, "street") == {"level": "street", "name": "街道", "code": ""}
