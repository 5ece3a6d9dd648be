"""Rule files and event-type tables: every bad input is rejected whole with a clear, located error."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import RuleFileError, load_event_types, load_rules
from rules.expr import Expr, ExprError

ROOT = Path(__file__).resolve().parents[1]


def errors_of(text: str) -> list[str]:
    """The errors a rule file raises."""
    with pytest.raises(RuleFileError) as caught:
        load_rules(text)
    return caught.value.errors


def test_example_config_files_load_and_agree() -> None:
    table = load_event_types((ROOT / "config" / "event_types.yaml").read_text(encoding="utf-8"))
    rules = load_rules((ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"), table)
    kinds = {r.kind for r in rules.rules}
    assert kinds == {"threshold", "window", "rate", "state", "silence", "detection", "expression"}
    assert table.label("200302") == "施工管理/工地扬尘"


def test_unknown_key_is_an_error_with_its_line() -> None:
    text = "rules:\n  - id: a\n    kind: threshold\n    event_type: x\n    field: v\n    levles: []\n"
    assert any(e.startswith("line 6:") and "levles" in e for e in errors_of(text))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("kind: threshold\n    field: v\n    levels: [{severity: warning, set: 1, clear: 2}]", "clear 2.0 must be"),
        (
            "kind: threshold\n    field: v\n    levels: [{severity: critical, set: 1}, {severity: warning, set: 2}]",
            "milder to more severe",
        ),
        (
            "kind: threshold\n    field: v\n    levels: [{severity: warning, set: 2}, {severity: critical, set: 1}]",
            "must be beyond",
        ),
        ("kind: threshold\n    field: v\n    levels: [{severity: urgent, set: 1}]", "unknown severity"),
        ("kind: window\n    field: v\n    agg: median\n    window: 1h", "String should match pattern"),
        ("kind: window\n    field: v\n    window: 15 minutes", "must look like"),
        ("kind: rate\n    field: v\n    window: 1h", "needs levels on the rate"),
        (
            "kind: rate\n    field: v\n    window: 30m\n    min_span: 30m\n    levels: [{severity: warning, set: 1}]",
            "min_span must be shorter than window",
        ),
        ("kind: expression\n    expr: '__import__(\"os\")'", "not allowed"),
        ("kind: expression\n    expr: 'pm10.real > 1'", "Attribute is not allowed"),
        ("kind: nonsense", "does not match any of the expected tags"),
        ("kind: threshold\n    field: v\n    schedule: [{start: '25:00', end: '06:00'}]", "HH:MM"),
        ("kind: threshold\n    field: v\n    select: {grid: ['11a']}", "1-15 digits"),
    ],
)
def test_bad_rules_are_rejected(rule: str, message: str) -> None:
    text = f"rules:\n  - id: r1\n    event_type: x\n    {rule}\n"
    assert any(message in e for e in errors_of(text)), errors_of(text)


def test_file_level_errors() -> None:
    assert any("duplicate rule id" in e for e in errors_of(
        "rules:\n  - {id: a, kind: state, event_type: x}\n  - {id: a, kind: state, event_type: x}\n"))  # fmt: skip
    assert any("unknown time zone" in e for e in errors_of("timezone: Mars/Olympus\nrules: []\n"))
    assert any("not valid YAML" in e for e in errors_of("rules: [\n"))


def test_event_type_codes_are_checked_against_the_table() -> None:
    table = load_event_types("event_types: [{code: '1', category: 突发事件, subcategory: 火灾}]")
    with pytest.raises(RuleFileError) as caught:
        load_rules("rules:\n  - {id: a, kind: state, event_type: '2'}\n", table)
    assert "is not in the" in caught.value.errors[0]
    with pytest.raises(RuleFileError):
        load_event_types(
            "event_types: [{code: '1', category: a, subcategory: b}, {code: '1', category: a, subcategory: c}]"
        )


@pytest.mark.parametrize(
    "text",
    ["open('x')", "(lambda: 1)()", "a[0]", "x ** 2", "'text' > 1", "avg(pm10)", "avg(pm10, '0s')", "a if b",
     "1 +", "[1, 2]", "min('a', 'b')", "x" * 600],
)  # fmt: skip
def test_expression_language_rejects_everything_outside_the_whitelist(text: str) -> None:
    with pytest.raises(ExprError):
        Expr(text)


def test_expression_evaluation() -> None:
    expr = Expr('field("a34002-Rtd") * 2 if x >= 1 else -1')
    assert expr.evaluate({"a34002-Rtd": 10.0, "x": 1}, []) == 20.0
    assert expr.evaluate({"a34002-Rtd": 10.0, "x": 0}, []) == -1.0
    assert expr.evaluate({"x": 1}, []) is None  # missing field
    assert Expr("a / b").evaluate({"a": 1, "b": 0}, []) is None
    assert Expr("1 < a <= 3").evaluate({"a": 3}, []) == 1.0
    assert Expr("a or b").evaluate({"a": 0, "b": 0}, []) == 0.0
    assert Expr("true and not false").evaluate({}, []) == 1.0
    assert Expr("a % 3 + -b").evaluate({"a": 7, "b": 1}, []) == 0.0


def test_a_missing_field_gives_none_unless_short_circuit_skips_it() -> None:
    """The missing-field pre-check must not change what and/or, if-else and chained comparisons give."""
    assert Expr("a - b > 80").evaluate({"a": 200.0}, []) is None
    assert Expr("a > 100 or b > 75").evaluate({"a": 120.0}, []) == 1.0
    assert Expr("a > 100 or b > 75").evaluate({"a": 20.0}, []) is None
    assert Expr("a > 100 and b > 75").evaluate({"a": 20.0}, []) == 0.0
    assert Expr("a if a > 0 else b").evaluate({"a": 5.0}, []) == 5.0
    assert Expr("a < 0 < b").evaluate({"a": 1.0}, []) == 0.0
    assert Expr("a < 0 < b").evaluate({"a": -1.0}, []) is None
