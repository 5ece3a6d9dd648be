"""`python -m gateway.config schema|docs|check FILE`: print the JSON Schema, regenerate the key reference of
docs/configuration.md, or check a config (exit 1 on errors)."""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.config.check import check_config, schema_text
from gateway.config.reference import update_document

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def main(argv: list[str]) -> int:
    """Run one subcommand; return the exit code."""
    if argv[:1] == ["schema"] and len(argv) == 1:
        sys.stdout.write(schema_text())
        return 0
    if argv == ["docs"]:
        DOCS.write_text(update_document(DOCS.read_text(encoding="utf-8")), encoding="utf-8")
        sys.stdout.write(f"updated {DOCS}\n")
        return 0
    if argv[:1] == ["check"] and len(argv) == 2:
        errors, warnings = check_config(Path(argv[1]))
        for line in [*(str(error) for error in errors), *(f"warning: {text}" for text in warnings)]:
            sys.stdout.write(line + "\n")
        return 1 if errors else 0
    sys.stderr.write("usage: python -m gateway.config schema | docs | check FILE\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
