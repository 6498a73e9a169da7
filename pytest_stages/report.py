"""The JSON report of a grading run, and the points a teacher gives each stage.

The report's format is documented in docs/reports.md and shipped as the JSON
Schema ``report-schema.json`` next to this module. Bump ``SCHEMA_VERSION``
whenever a field changes meaning or is removed.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_stages import __version__, discovery
from pytest_stages.session import GradingState, StageOutcome
from pytest_stages.stage import Stage

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "report-schema.json"

Points = dict[int, float]


def resolve_points(config: pytest.Config, stages: list[Stage]) -> Points:
    """Return the points of every stage: the ``stages_points`` ini key over the defaults.

    Raise ``pytest.UsageError`` for a line that names no stage or gives no number.
    """
    points: Points = {stage.number: stage.points for stage in stages}
    by_slug = {stage.slug: stage.number for stage in stages}
    for line in config.getini("stages_points"):
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        number = by_slug.get(key) or (int(key) if key.isdigit() else None)
        if not sep or number not in points:
            raise pytest.UsageError(
                f"stages_points line {line!r} in the ini file is invalid: write "
                "STAGE=POINTS with STAGE one of the stage numbers "
                f"{', '.join(map(str, points))} or slugs {', '.join(by_slug)}."
            )
        points[number] = _number(line, value)
    return points


def _number(line: str, value: str) -> float:
    try:
        result = float(value)
    except ValueError:
        result = -1.0
    if result < 0 or result != result:  # negative or NaN
        raise pytest.UsageError(
            f"stages_points line {line!r} in the ini file is invalid: the points "
            "must be a number of at least 0, such as 2 or 0.5."
        )
    return int(result) if result.is_integer() else result


class ReportWriter:
    """Plugin of a grading run: adds the points line and writes the JSON report."""

    def __init__(self, config: pytest.Config, state: GradingState) -> None:
        self.state = state
        self.stages = [item.stage for item in discovery.discover_stages()]
        self.points = resolve_points(config, self.stages)
        self.path = _report_path(config)
        self.started = time.time()
        self.crash: dict[int, str] = {}
        self.interrupted = False
        self.write_error: str | None = None

    def pytest_keyboard_interrupt(self) -> None:
        self.interrupted = True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the crash line of a failed check that raised no ``CheckFailed``."""
        stage = dict(report.user_properties).get("stage")
        if report.failed and stage is not None and stage not in self.crash:
            crash = getattr(report.longrepr, "reprcrash", None)
            self.crash[stage] = crash.message if crash else str(report.longrepr)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter) -> None:  # noqa: ANN001
        terminalreporter.write_line(points_line(self.state, self.points), bold=True)
        if self.write_error:
            terminalreporter.write_line(
                f"stages: the JSON report cannot be written to {self.path}: "
                f"{self.write_error}",
                red=True,
            )
        elif self.path:
            terminalreporter.write_line(f"stages: JSON report written to {self.path}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # pytest calls this hook also after Ctrl-C, so an interrupted run
        # still leaves a report, with the stages it did not finish not reached.
        if not self.path:
            return
        report = build_report(
            self.state,
            self.stages,
            self.points,
            started=self.started,
            finished=time.time(),
            exit_status=int(exitstatus),
            crash=self.crash,
            interrupted=self.interrupted,
        )
        try:
            write_atomically(self.path, report)
        except OSError as error:
            self.write_error = str(error)
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def _report_path(config: pytest.Config) -> Path | None:
    raw = config.getoption("stages_report", None) or config.getini("stages_report")
    if not raw:
        return None
    return (config.invocation_params.dir / raw).resolve()


def output_folders(config: pytest.Config) -> list[Path]:
    """Create and return the folders of the JSON report and of the JUnit XML file.

    The session container shows the host's files read-only, so the pytest
    inside it can write these files only where these folders are made writable.
    """
    paths = [_report_path(config)]
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath:
        paths.append((config.invocation_params.dir / xmlpath).resolve())
    folders = []
    for path in paths:
        if path is None:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise pytest.UsageError(
                f"The folder of the report {path} cannot be created: {error}. "
                "Give a path in a folder you can write to."
            ) from None
        folders.append(path.parent)
    return folders


def points_line(state: GradingState, points: Points) -> str:
    """Return the summary line with the points earned, such as ``points: 3 of 6``."""
    earned, possible = _totals(state, points)
    return f"points: {_show(earned)} of {_show(possible)}"


def _totals(state: GradingState, points: Points) -> tuple[float, float]:
    earned = possible = 0
    for number, outcome in state.outcomes.items():
        possible += points[number]
        if outcome.status == "passed":
            earned += points[number]
    return earned, possible


def _show(value: float) -> str:
    return f"{value:g}"


def build_report(
    state: GradingState,
    stages: list[Stage],
    points: Points,
    *,
    started: float,
    finished: float,
    exit_status: int,
    crash: dict[int, str] | None = None,
    interrupted: bool = False,
) -> dict[str, Any]:
    """Return the report of a run as a JSON-ready dict, one entry per known stage."""
    settings = state.settings
    interrupted = interrupted or exit_status == pytest.ExitCode.INTERRUPTED
    entries = [
        _stage_entry(stage, state.outcomes.get(stage.number), points, crash or {})
        for stage in stages
    ]
    for entry in entries:
        # A selected stage that an interrupt kept from starting has no results.
        if (
            interrupted
            and entry["outcome"] == "skipped"
            and entry["number"] in state.outcomes
        ):
            entry["outcome"] = "not reached"
    passed = [entry["number"] for entry in entries if entry["outcome"] == "passed"]
    earned, possible = _totals(state, points)
    return {
        "schema_version": SCHEMA_VERSION,
        "harness": {"name": "pytest-stages", "version": __version__},
        "program": {
            "command": settings.program_label,
            "argv": list(settings.program),
            "folder": str(settings.program_dir),
        },
        "selection": {"stage": settings.highest_stage, "only": settings.only},
        "seed": settings.seed,
        "backend": state.backend,
        "started": _timestamp(started),
        "finished": _timestamp(finished),
        "duration": round(finished - started, 3),
        "exit_status": exit_status,
        "interrupted": interrupted,
        "outcome": "passed"
        if _all_passed(state, exit_status, interrupted)
        else "failed",
        "highest_stage_passed": max(passed) if passed else None,
        "points": {"earned": earned, "possible": possible},
        "stages": entries,
    }


def _all_passed(state: GradingState, exit_status: int, interrupted: bool) -> bool:
    if exit_status != 0 or interrupted:
        return False
    # A stage whose checks were all deselected (pytest -k) is skipped, not failed.
    statuses = {outcome.status for outcome in state.outcomes.values()}
    return statuses <= {"passed", "skipped"}


def _stage_entry(
    stage: Stage, outcome: StageOutcome | None, points: Points, crash: dict[int, str]
) -> dict[str, Any]:
    status = outcome.status if outcome else "skipped"
    return {
        "number": stage.number,
        "slug": stage.slug,
        "title": stage.title,
        "outcome": status,
        "duration": round(outcome.duration, 3) if outcome else 0.0,
        "checks": {
            "passed": outcome.passed if outcome else 0,
            "failed": outcome.failed if outcome else 0,
            "not_run": outcome.not_run if outcome else 0,
        },
        "points": {
            "earned": points[stage.number] if status == "passed" else 0,
            "possible": points[stage.number],
        },
        "failure": _failure(stage, outcome, crash) if status == "failed" else None,
    }


def _failure(
    stage: Stage, outcome: StageOutcome, crash: dict[int, str]
) -> dict[str, Any]:
    if outcome.failure is not None:
        return {"check": outcome.failed_check, **outcome.failure.as_dict()}
    # A check that failed without CheckFailed: an assertion or a harness error.
    return {
        "check": outcome.failed_check,
        "summary": crash.get(stage.number) or outcome.failed_check or "failed",
        "command": None,
        "expected": None,
        "actual": None,
        "hint": None,
    }


def _timestamp(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` so that readers never see a partial file.

    The JSON goes to a temporary file in the same folder, which then replaces
    ``path`` in one rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # mkstemp creates the file readable by its owner only.
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema of the report, as shipped with the package."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
