"""Find the stages: the built-in course and the stage packs of other packages."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import pytest

from pytest_stages.stage import Stage

ENTRY_POINT_GROUP = "pytest_stages"
# The built-in course sits next to this package, both in a checkout and when
# installed. It is loaded by path so that a student's own `stages` folder,
# which may come first on sys.path, can never replace it.
BUILTIN_STAGES = Path(__file__).resolve().parent.parent / "stages"
_BUILTIN_PREFIX = "pytest_stages._course."


@dataclass(frozen=True)
class LoadedStage:
    """A stage together with the module that checks it."""

    stage: Stage
    module: ModuleType
    path: Path
    source: str
    """``built-in`` or the entry point that registered the stage pack."""


def discover_stages() -> list[LoadedStage]:
    """Load every stage, ordered by number; raise ``pytest.UsageError`` on a conflict."""
    loaded = _builtin_stages() + _pack_stages()
    by_number: dict[int, LoadedStage] = {}
    for item in loaded:
        other = by_number.get(item.stage.number)
        if other is not None:
            raise pytest.UsageError(
                f"Two stages have number {item.stage.number}: {other.stage.slug} "
                f"({other.source}) and {item.stage.slug} ({item.source}). "
                "Renumber one of them in its stage pack."
            )
        by_number[item.stage.number] = item
    return [by_number[number] for number in sorted(by_number)]


def _builtin_stages() -> list[LoadedStage]:
    stages = []
    for path in sorted(BUILTIN_STAGES.glob("stage*.py")):
        name = _BUILTIN_PREFIX + path.stem
        module = sys.modules.get(name) or _import_by_path(name, path)
        stages.append(_loaded(module, "built-in"))
    return stages


def _import_by_path(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _pack_stages() -> list[LoadedStage]:
    stages = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry.name} = {entry.value}"
        try:
            target = entry.load()
        except Exception as error:
            raise pytest.UsageError(
                f"The stage pack {source} failed to load: {error!r}. "
                "Reinstall that package or uninstall it."
            ) from error
        stages.extend(_loaded(module, source) for module in _stage_modules(target))
    return stages


def _stage_modules(target: ModuleType) -> list[ModuleType]:
    """Return the module itself if it is a stage, or the stage modules of a package."""
    if hasattr(target, "STAGE"):
        return [target]
    modules = []
    for info in pkgutil.iter_modules(getattr(target, "__path__", [])):
        module = importlib.import_module(f"{target.__name__}.{info.name}")
        if hasattr(module, "STAGE"):
            modules.append(module)
    return modules


def _loaded(module: ModuleType, source: str) -> LoadedStage:
    stage = getattr(module, "STAGE", None)
    if not isinstance(stage, Stage):
        raise pytest.UsageError(
            f"{module.__file__} ({source}) has no STAGE = Stage(...) record; "
            "every stage module needs one."
        )
    return LoadedStage(stage, module, Path(module.__file__).resolve(), source)


def select(stages: list[LoadedStage], highest: int, only: bool) -> list[LoadedStage]:
    """Pick the stages a run grades; raise ``pytest.UsageError`` for a missing stage."""
    numbers = [item.stage.number for item in stages]
    if highest not in numbers:
        raise pytest.UsageError(
            f"There is no stage {highest}. The stages are "
            f"{', '.join(map(str, numbers))}."
        )
    if only:
        return [item for item in stages if item.stage.number == highest]
    return [item for item in stages if item.stage.number <= highest]
