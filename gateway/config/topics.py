"""Check MQTT topic filters and the topic templates that name their levels ("grid/{grid}/{kind}/{device}")."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["RESERVED_PLACEHOLDERS", "check_filter", "check_template", "template_placeholders"]

RESERVED_PLACEHOLDERS: Final = frozenset({"device", "kind", "grid"})
"""Placeholders with a meaning of their own; any other {name} becomes a tag of that name."""

_PLACEHOLDER: Final = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
_SHARED: Final = re.compile(r"^\$share/[^/+#]+/")


def check_filter(topic: str) -> str:
    """Return the filter if it is a valid MQTT topic filter [MQTT-4.7.1], else raise ValueError with the fix."""
    if not topic:
        raise ValueError('the topic filter is empty; write one such as "grid/+/+/+"')
    if "\x00" in topic:
        raise ValueError("the topic filter contains a NUL character; remove it")
    levels = _SHARED.sub("", topic).split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError(f"'#' must be a whole level and the last one in {topic!r}; e.g. \"sensors/#\"")
        if "+" in level and level != "+":
            raise ValueError(f'\'+\' must be a whole level in {topic!r}; write "a/+/b", not "a/x+/b"')
    return topic


def template_placeholders(template: str) -> list[str | None]:
    """The placeholder name of each template level, or None for a literal level."""
    names: list[str | None] = []
    for level in template.split("/"):
        match = _PLACEHOLDER.match(level)
        if match:
            names.append(match.group(1))
        elif "{" in level or "}" in level:
            raise ValueError(
                f"template level {level!r} is not a whole placeholder; write a level as {{name}} "
                "(lower-case letters, digits, _) or as literal text without braces"
            )
        else:
            names.append(None)
    return names


def check_template(template: str, topic: str) -> str:
    """Return the template if it fits the topic filter level by level, else raise ValueError with the fix."""
    names = template_placeholders(template)
    seen = [name for name in names if name]
    duplicates = sorted({name for name in seen if seen.count(name) > 1})
    if duplicates:
        raise ValueError(f"placeholder {{{duplicates[0]}}} appears twice in {template!r}; name each level once")
    if "device" not in seen:
        raise ValueError(f"template {template!r} has no {{device}} level; add one so each message names its device")
    levels = _SHARED.sub("", topic).split("/")
    multi = levels[-1] == "#"
    fixed = levels[:-1] if multi else levels
    if (not multi and len(names) != len(fixed)) or (multi and len(names) < len(fixed)):
        raise ValueError(
            f"template {template!r} has {len(names)} levels but topic {topic!r} matches "
            f"{'at least ' if multi else ''}{len(fixed)}; give the template one level per topic level"
        )
    template_levels = template.split("/")
    for index, level in enumerate(fixed):
        if level == "+" and names[index] is None:
            raise ValueError(
                f"level {index + 1} of topic {topic!r} is '+' but the template has the literal "
                f"{template_levels[index]!r} there; use a placeholder such as {{device}} or {{site}}"
            )
        if level != "+" and names[index] is None and template_levels[index] != level:
            raise ValueError(
                f"level {index + 1} is {level!r} in the topic but {template_levels[index]!r} in the template; "
                "make the literal levels equal"
            )
    return template
