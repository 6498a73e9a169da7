"""The record that turns a pytest module into a stage of the course."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Stage:
    """A stage of the course, declared as ``STAGE = Stage(...)`` in its module.

    ``instructions`` maps a language code (``"en"``, ``"ja"``) to the stage's
    instructions in Markdown. ``points`` is the default weight of the stage in
    a class's grade; a teacher can override it.
    """

    number: int
    slug: str
    title: str
    instructions: dict[str, str] = field(default_factory=dict)
    points: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.number, int) or self.number < 1:
            raise ValueError(
                f"stage number must be an integer >= 1, got {self.number!r}"
            )
        if not _SLUG.match(self.slug):
            raise ValueError(
                f"stage slug must be lowercase words joined by '-', got {self.slug!r}"
            )

    @property
    def label(self) -> str:
        """The name shown in reports, such as ``stage 2 (stdio)``."""
        return f"stage {self.number} ({self.slug})"


def load_instructions(module_file: str, slug: str) -> dict[str, str]:
    """Read a stage's instructions from ``instructions/SLUG.LANG.md`` beside its module.

    Returns a mapping from language code to Markdown text; a language without
    a file is left out.
    """
    folder = Path(module_file).resolve().parent / "instructions"
    return {
        path.name.split(".")[-2]: path.read_text(encoding="utf-8")
        for path in sorted(folder.glob(f"{slug}.*.md"))
    }
