"""Writes the settings reference in docs/configuration.md from Pulumi.yaml, its one source.

`python docs/generate_configuration.py` rewrites the table between the page's markers;
`--check` only says whether the page is up to date (exit 1 if not). The prose around the
table is hand-written. Standard library and PyYAML only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
PAGE = PROJECT_DIR / "docs" / "configuration.md"
BEGIN = "<!-- BEGIN settings table: generated from Pulumi.yaml by docs/generate_configuration.py -->"
END = "<!-- END settings table -->"


def _type(spec: dict) -> str:
    if spec["type"] == "array":
        return f"array of {spec['items']['type']}s"
    return spec["type"]


def _default(value: object) -> str:
    """As a stack file would spell it: a string bare, anything else (and the empty string) as JSON."""
    return f"`{value}`" if isinstance(value, str) and value else f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    """One table cell: on one line, `|` escaped, and `<`/`>` outside code spans shown, not read as HTML."""
    parts = " ".join(text.split()).replace("|", "\\|").split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def table(pulumi_yaml: dict) -> str:
    """The reference table of the settings a Pulumi.yaml declares, in its order."""
    rows = ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
    for key, spec in pulumi_yaml["config"].items():
        rows.append(f"| `{key}` | {_type(spec)} | {_default(spec['default'])} | {_cell(spec['description'])} |")
    return "\n".join(rows)


def render(page: str, pulumi_yaml: dict) -> str:
    """The page with the text between its markers replaced by the table."""
    if page.count(BEGIN) != 1 or page.count(END) != 1:
        raise ValueError(f"{PAGE.name} must hold each marker once: {BEGIN!r}, {END!r}")
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table(pulumi_yaml)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    pulumi_yaml = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    page = PAGE.read_text()
    wanted = render(page, pulumi_yaml)
    if argv == ["--check"]:
        if page != wanted:
            print(
                f"{PAGE.relative_to(PROJECT_DIR)} is out of date: run venv/bin/python docs/generate_configuration.py",
                file=sys.stderr,
            )
            return 1
        return 0
    if argv:
        print("usage: generate_configuration.py [--check]", file=sys.stderr)
        return 2
    PAGE.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
