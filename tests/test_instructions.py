"""Every stage, stage packs included, has instructions in English and Japanese.

The references in them must resolve: man pages to a known list of pages,
web links to well-known public document hosts, and relative links to files
of this repository.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from pytest_stages.discovery import discover_stages
from pytest_stages.stage import Stage

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PACK = ROOT / "examples" / "stage-pack-uts"
LANGUAGES = ("en", "ja")

# Pages that exist in the man-pages project, as man7.org publishes them.
KNOWN_MAN_PAGES = {
    ("capabilities", "7"),
    ("chroot", "2"),
    ("clone", "2"),
    ("dup2", "2"),
    ("exec", "3"),
    ("execve", "2"),
    ("exit", "3"),
    ("fork", "2"),
    ("gethostname", "2"),
    ("namespaces", "7"),
    ("pid_namespaces", "7"),
    ("pipe", "7"),
    ("pivot_root", "2"),
    ("setvbuf", "3"),
    ("signal", "7"),
    ("stdio", "3"),
    ("uname", "2"),
    ("unshare", "1"),
    ("unshare", "2"),
    ("uts_namespaces", "7"),
    ("wait", "2"),
}
ALLOWED_HOSTS = {
    "man7.org",
    "github.com",
    "docs.docker.com",
    "distribution.github.io",
    "specs.opencontainers.org",
    "www.kernel.org",
    "docs.kernel.org",
    "docs.python.org",
}
# Host names that appear in the text as what a program talks to, not as links.
PROTOCOL_HOSTS = {"auth.docker.io", "registry-1.docker.io"}

MAN_PAGE = re.compile(r"\b([a-z_][a-z0-9_]*)\(([1-8])\)")
URL = re.compile(r"https?://([^/\s)`\"'>]+)[^\s)`\"'>]*")
MAN7_URL = re.compile(
    r"^https://man7\.org/linux/man-pages/man([1-8])/([a-z0-9_]+)\.\1\.html$"
)
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pack_stages() -> list[tuple[Stage, Path]]:
    """Load the example pack's stage modules by path; it need not be installed."""
    loaded = []
    for path in sorted((EXAMPLE_PACK / "stages_uts").glob("stage*.py")):
        name = f"_example_pack_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        loaded.append((module.STAGE, path))
    return loaded


def _all_stages() -> list[tuple[Stage, Path]]:
    stages = [(item.stage, item.path) for item in discover_stages()]
    known = {stage.slug for stage, _ in stages}
    return stages + [item for item in _pack_stages() if item[0].slug not in known]


STAGES = _all_stages()
STAGE_IDS = [f"{stage.number}-{stage.slug}" for stage, _ in STAGES]
DOCUMENTS = [
    ROOT / "docs" / "teachers-stage-packs.md",
    EXAMPLE_PACK / "README.md",
    *sorted((ROOT / "pytest_stages" / "starters").glob("*/README.md")),
]


def instruction_files() -> list[Path]:
    files = []
    for _, module_path in STAGES:
        files.extend(sorted((module_path.parent / "instructions").glob("*.md")))
    return files


def man_page_problems(text: str) -> list[str]:
    """Return the man page mentions and man7.org links that name no known page."""
    problems = [
        f"{name}({section})"
        for name, section in MAN_PAGE.findall(text)
        if (name, section) not in KNOWN_MAN_PAGES
    ]
    for match in URL.finditer(text):
        url = match.group(0)
        if match.group(1) != "man7.org":
            continue
        page = MAN7_URL.match(url)
        if page is None or (page.group(2), page.group(1)) not in KNOWN_MAN_PAGES:
            problems.append(url)
    return problems


def url_problems(text: str) -> list[str]:
    """Return the web links whose host is not a well-known document host."""
    return [
        match.group(0)
        for match in URL.finditer(text)
        if match.group(1) not in ALLOWED_HOSTS | PROTOCOL_HOSTS
    ]


def relative_link_problems(text: str, folder: Path) -> list[str]:
    """Return the relative Markdown links that lead to no file of the repository."""
    problems = []
    for target in MARKDOWN_LINK.findall(text):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        path = (folder / target.split("#")[0]).resolve()
        if not path.exists() or ROOT not in path.parents:
            problems.append(target)
    return problems


def test_stages_include_the_course_and_the_pack() -> None:
    numbers = [stage.number for stage, _ in STAGES]

    assert numbers[:6] == [1, 2, 3, 4, 5, 6]
    assert 7 in numbers


@pytest.mark.parametrize(("stage", "module_path"), STAGES, ids=STAGE_IDS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_stage_has_instructions(stage: Stage, module_path: Path, language: str) -> None:
    text = stage.instructions.get(language, "")

    assert text.startswith("# "), f"{stage.label} has no {language} instructions"
    assert f"{stage.number}" in text.splitlines()[0]
    assert (
        module_path.parent / "instructions" / f"{stage.slug}.{language}.md"
    ).is_file()


@pytest.mark.parametrize(("stage", "module_path"), STAGES, ids=STAGE_IDS)
def test_languages_cite_the_same_references(stage: Stage, module_path: Path) -> None:
    english = set(URL.findall(stage.instructions["en"]))
    japanese = set(URL.findall(stage.instructions["ja"]))

    assert english == japanese


@pytest.mark.parametrize(("stage", "module_path"), STAGES, ids=STAGE_IDS)
def test_stage_cites_man_pages_or_specifications(
    stage: Stage, module_path: Path
) -> None:
    for language in LANGUAGES:
        assert URL.search(stage.instructions[language]), (stage.label, language)


@pytest.mark.parametrize(
    "path", instruction_files() + DOCUMENTS, ids=lambda path: path.name
)
def test_references_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")

    assert man_page_problems(text) == []
    assert url_problems(text) == []
    assert relative_link_problems(text, path.parent) == []


def test_reference_checks_reject_bad_references(tmp_path: Path) -> None:
    text = (
        "See chroot(2) and chroot(9) and nosuchpage(7), "
        "[a](https://man7.org/linux/man-pages/man2/nosuch.2.html), "
        "[b](https://example.com/spec), [c](missing.md), [d](../../etc/passwd)."
    )

    assert man_page_problems(text) == [
        "nosuchpage(7)",
        "https://man7.org/linux/man-pages/man2/nosuch.2.html",
    ]
    assert url_problems(text) == ["https://example.com/spec"]
    assert relative_link_problems(text, ROOT / "docs") == [
        "missing.md",
        "../../etc/passwd",
    ]
