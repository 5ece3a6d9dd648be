"""Topic templates: map the levels of a topic such as `grid/110105001001001/dust/dust-0001` to names."""

from __future__ import annotations

from dataclasses import dataclass

RESERVED = ("device", "kind", "grid")


@dataclass(frozen=True, slots=True)
class TopicTemplate:
    """A template like `grid/{grid}/{kind}/{device}`: `{name}` levels capture, others must match literally.

    A trailing `{name...}` level captures the rest of the topic (for `#` subscriptions).
    """

    text: str
    levels: tuple[tuple[str, bool], ...]  # (literal or capture name, is_capture)
    rest: str | None

    @classmethod
    def parse(cls, text: str) -> TopicTemplate:
        """Compile a template; raises ValueError naming the bad level."""
        levels: list[tuple[str, bool]] = []
        rest: str | None = None
        parts = text.split("/")
        for i, part in enumerate(parts):
            if part.startswith("{") and part.endswith("}"):
                name = part[1:-1]
                if name.endswith("...") and i == len(parts) - 1:
                    rest = name[:-3]
                    continue
                if not name.isidentifier():
                    raise ValueError(f"template level {part!r} must be {{name}} with a Python-style name")
                levels.append((name, True))
            elif "{" in part or "}" in part or part in {"+", "#"}:
                raise ValueError(f"template level {part!r} must be a literal or a whole {{name}}")
            else:
                levels.append((part, False))
        return cls(text, tuple(levels), rest)

    def match(self, topic: str) -> dict[str, str] | None:
        """The captured levels of a topic, or None when the topic does not fit the template."""
        parts = topic.split("/")
        count = len(self.levels)
        if len(parts) < count or (self.rest is None and len(parts) != count):
            return None
        out: dict[str, str] = {}
        for part, (name, capture) in zip(parts, self.levels, strict=False):
            if capture:
                if not part:
                    return None
                out[name] = part
            elif part != name:
                return None
        if self.rest is not None:
            out[self.rest] = "/".join(parts[count:])
        return out

    def filter(self) -> str:
        """The MQTT topic filter this template matches: captures become `+`, a rest capture `#`."""
        parts = ["+" if capture else name for name, capture in self.levels]
        if self.rest is not None:
            parts.append("#")
        return "/".join(parts)
