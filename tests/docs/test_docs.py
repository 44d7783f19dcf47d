"""The documentation: a short README, links that lead somewhere, a settings reference that is Pulumi.yaml's."""

import importlib.util
import re
import unicodedata

import pytest
import yaml

from components import PROJECT_DIR

PAGES = [
    PROJECT_DIR / "README.md",
    PROJECT_DIR / "CONTRIBUTING.md",
    PROJECT_DIR / "CHANGELOG.md",
    *sorted((PROJECT_DIR / "docs").glob("*.md")),
]
README_WORD_LIMIT = 1500  # a newcomer's five minutes; the rest belongs in docs/


def _generator():
    spec = importlib.util.spec_from_file_location(
        "generate_configuration", PROJECT_DIR / "docs" / "generate_configuration.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where a `[x](y)` is not a link."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def github_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to
    hyphens, a repeated anchor suffixed -1, -2, ..."""
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M), flags=re.M):
        heading = re.sub(r"<[^>]+>", "", heading).lower()
        slug = "".join(c for c in heading if c in " -_" or unicodedata.category(c)[0] in "LN").replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_github_anchor_rules():
    text = (
        "# The local endpoint: `run.py serve`\n## What it cannot reproduce\n## What it cannot reproduce\n"
        "```\n# not a heading\n```\n## Execution names and the roles' scope\n"
    )
    assert github_anchors(text) == {
        "the-local-endpoint-runpy-serve",
        "what-it-cannot-reproduce",
        "what-it-cannot-reproduce-1",
        "execution-names-and-the-roles-scope",
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PROJECT_DIR)))
def test_every_relative_link_leads_to_a_file_and_heading(page):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in github_anchors(destination.read_text()):
            broken.append(f"{target}: no such heading in {destination.relative_to(PROJECT_DIR)}")
    assert broken == []


def test_the_readme_is_read_in_five_minutes():
    assert len((PROJECT_DIR / "README.md").read_text().split()) < README_WORD_LIMIT


def test_the_settings_reference_is_generated_from_pulumi_yaml():
    generator = _generator()
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    page = generator.PAGE.read_text()
    assert generator.render(page, declared) == page, "run: venv/bin/python docs/generate_configuration.py"
    assert generator.main(["--check"]) == 0


def test_the_generated_reference_follows_a_change_in_pulumi_yaml():
    generator = _generator()
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    declared["config"]["rows"]["default"] = 7000
    declared["config"]["rows"]["description"] = "Rows per run | <at most> a billion, `runs/<name>/`."
    row = next(line for line in generator.table(declared).splitlines() if line.startswith("| `rows` |"))
    assert row == "| `rows` | integer | `7000` | Rows per run \\| &lt;at most&gt; a billion, `runs/<name>/`. |"
    assert generator.render(generator.PAGE.read_text(), declared) != generator.PAGE.read_text()
