"""The YAML reader: safe tags only, lines for keys and items, anchors, merge keys, duplicates, one document."""

from __future__ import annotations

import pytest

from gateway.config.yamlmarks import YamlSyntaxError, load_located

TEXT = """\
base: &base
  kind: dust
  interval: 60s
devices:
  - <<: *base
    id: dust-0001
  - <<: *base
    id: dust-0002
    kind: noise
copy: *base
flags: [true, null, 1.5, '12', 0x10]
"""


def test_values_and_lines() -> None:
    located = load_located(TEXT)
    data = located.data
    assert data["devices"] == [
        {"id": "dust-0001", "kind": "dust", "interval": "60s"},
        {"id": "dust-0002", "kind": "noise", "interval": "60s"},
    ]
    assert data["flags"] == [True, None, 1.5, "12", 16]
    assert located.lines[("devices", 1)] == 7 and located.lines[("devices", 1, "kind")] == 9
    assert located.line_of(("devices", 1, "missing", "deeper")) == 7
    assert located.line_of(("nowhere",)) == 1


def test_aliases_are_copies() -> None:
    data = load_located(TEXT).data
    data["copy"]["kind"] = "water"
    assert data["base"]["kind"] == "dust"


def test_duplicates_are_noted() -> None:
    located = load_located("a: 1\nb: 2\na: 3\n")
    assert located.data == {"a": 3, "b": 2} and located.duplicates == [(("a",), 3, 1)]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: !!python/object/apply:os.system [echo]\n", 1, "not supported"),
        ("a: !!python/name:os.system x\n", 1, "constructor"),
        ("a: 1\n---\nb: 2\n", 2, "second YAML document"),
        ("a: *nope\n", 1, "unknown alias"),
        ("? [a, b]\n: 1\n", 1, "plain scalar"),
        ("a:\n  - 1\n b: 2\n", 3, "invalid YAML"),
        ("a: {<<: [1, 2]}\n", 1, "merge key"),
    ],
)
def test_errors_have_lines(text: str, line: int, words: str) -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load_located(text)
    assert caught.value.line == line and words in caught.value.message


def test_empty_document() -> None:
    assert load_located("").data is None and load_located("# only a comment\n").data is None
