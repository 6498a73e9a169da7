"""Starter projects for the student's program, one folder of templates per language."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent
LANGUAGES = ("python", "c", "go", "rust", "nim")
# Package data cannot hold dotfiles reliably, so they are stored without the dot.
RENAMED = {"gitignore": ".gitignore"}
EXECUTABLES = ("your_program.sh",)
SKIPPED = ("__pycache__",)


class StarterError(Exception):
    """The starter could not be created; the message gives the reason and the fix."""


def create(language: str, directory: str | os.PathLike[str]) -> Path:
    """Copy the starter of `language` into `directory` and return its path.

    Raises StarterError for an unknown language, or when `directory` exists
    and is not an empty folder: a starter never overwrites a student's files.
    """
    if language not in LANGUAGES:
        raise StarterError(
            f"there is no starter for {language!r}. Choose one of: "
            f"{', '.join(LANGUAGES)}."
        )
    target = Path(directory)
    _check_target(target)
    target.mkdir(parents=True, exist_ok=True)
    _copy_tree(TEMPLATES / language, target)
    return target


def _check_target(target: Path) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise StarterError(
            f"{target} exists and is not a folder. Give the starter a new folder name."
        )
    if any(target.iterdir()):
        raise StarterError(
            f"{target} is not empty, and a starter never overwrites files. "
            "Give a new folder name, or empty that folder first."
        )


def _copy_tree(source: Path, target: Path) -> None:
    for path in sorted(source.iterdir()):
        if path.name in SKIPPED:
            continue
        destination = target / RENAMED.get(path.name, path.name)
        if path.is_dir():
            destination.mkdir()
            _copy_tree(path, destination)
            continue
        shutil.copyfile(path, destination)
        if path.name in EXECUTABLES:
            mode = destination.stat().st_mode
            destination.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
