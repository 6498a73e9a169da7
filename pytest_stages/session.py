"""The grading session: where it runs, what it selected, and how each stage went."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_stages import discovery, options
from pytest_stages.failures import Failure
from pytest_stages.options import Settings
from pytest_stages.stage import Stage

INSIDE_VARIABLE = "PYTEST_STAGES_INSIDE"
REASON_VARIABLE = "PYTEST_STAGES_BACKEND_REASON"
OUTER_BACKEND_VARIABLE = "PYTEST_STAGES_OUTER_BACKEND"
EXPLORER_INSIDE = "/usr/local/bin/docker-explorer"
# `python3 -m pytest` would put the student's folder first on sys.path, where
# a file named pytest.py would replace pytest in the inner session.
INNER_PYTEST = (
    sys.executable,
    "-c",
    "import sys; del sys.path[0]; import pytest; sys.exit(pytest.main())",
)


def run_outside(config: pytest.Config) -> int | None:
    """Run the session in the container and return its exit status.

    Return None when pytest should go on in this process: inside the
    container already, or with ``--stages-backend none``.
    """
    if os.environ.get(INSIDE_VARIABLE):
        return None
    settings = options.resolve_settings(config)
    discovery.select(discovery.discover_stages(), settings.highest_stage, settings.only)
    if settings.backend == "none":
        return None
    from pytest_stages import container, report

    explorer = _build_explorer()
    try:
        backend = container.select_backend(settings.backend)
    except container.NoBackendError as error:
        raise pytest.UsageError(str(error)) from None
    command = [
        *INNER_PYTEST,
        *config.invocation_params.args,
        f"--stages-seed={settings.seed}",
    ]
    real_docker_hub = settings.registry == "docker.io"
    spec = container.SessionSpec(
        command=command,
        program_dir=settings.program_dir,
        writable_paths=toolchain_caches() + report.output_folders(config),
        explorer=explorer,
        env={REASON_VARIABLE: backend.reason},
        # The real Docker Hub needs the host's network and its own names.
        host_network=real_docker_hub,
        hub_hosts=[] if real_docker_hub else list(container.DOCKER_HUB_HOSTS),
    )
    try:
        return backend.run(spec)
    except container.SessionSetupError as error:
        raise pytest.UsageError(
            f"The session container failed to start: {error}"
        ) from None


# Folders that compilers and package managers write to while building a
# student's program; they stay writable inside the session container.
TOOLCHAIN_CACHES = (
    ".cache",
    ".cargo",
    ".rustup",
    "go",
    ".nimble",
    ".npm",
    ".gradle",
    ".m2",
)


def toolchain_caches() -> list[Path]:
    """Return the toolchain cache folders of the current user that exist."""
    home = Path.home()
    return [home / name for name in TOOLCHAIN_CACHES if (home / name).is_dir()]


def _build_explorer():  # noqa: ANN202
    from pytest_stages.explorer import ExplorerBuildError, build_explorer

    try:
        return build_explorer()
    except ExplorerBuildError as error:
        raise pytest.UsageError(str(error)) from None


def prepare_inside(config: pytest.Config) -> GradingState:
    """Resolve the settings and stages of the run in the process that grades."""
    settings = options.resolve_settings(config)
    stages = discovery.discover_stages()
    selected = discovery.select(stages, settings.highest_stage, settings.only)
    backend = os.environ.get(INSIDE_VARIABLE)
    if backend:
        explorer = EXPLORER_INSIDE
        reason = os.environ.get(REASON_VARIABLE, "")
        # The docker and podman backends build a root session inside their
        # container; the header names the backend that was chosen.
        backend = os.environ.get(OUTER_BACKEND_VARIABLE) or backend
    else:
        explorer = str(_build_explorer())
        backend = "none"
        reason = "no container: chosen with --stages-backend none"
    return GradingState(
        settings=settings,
        selected=selected,
        stages=stages,
        explorer_path=explorer,
        backend=backend,
        backend_reason=reason,
        live=config.get_verbosity() >= 0,
    )


@dataclass
class StageOutcome:
    """The outcome of one stage: its checks' results and the first failure."""

    stage: Stage
    passed: int = 0
    failed: int = 0
    not_run: int = 0
    duration: float = 0.0
    failure: Failure | None = None
    failed_check: str | None = None

    @property
    def status(self) -> str:
        """``passed``, ``failed``, ``not reached``, or ``skipped`` (all deselected)."""
        if self.failed:
            return "failed"
        if self.passed and not self.not_run:
            return "passed"
        if not self.passed and not self.not_run:
            return "skipped"
        return "not reached"


@dataclass
class GradingState:
    """Settings, selected stages and progress of one grading run."""

    settings: Settings
    selected: list[discovery.LoadedStage]
    explorer_path: str
    backend: str
    backend_reason: str
    live: bool
    stages: list[discovery.LoadedStage] = field(default_factory=list)
    """Every stage of the course, selected or not, for the next-step line."""
    outcomes: dict[int, StageOutcome] = field(default_factory=dict)
    failed_stage: Stage | None = None
    hub: Any = None
    """The session's ``SessionHub`` once it runs; None without a container."""

    def __post_init__(self) -> None:
        for item in self.selected:
            self.outcomes[item.stage.number] = StageOutcome(item.stage)

    def pack_images(self) -> list:
        """Return the hub images the selected stage modules add in ``IMAGES``."""
        return [
            spec
            for item in self.selected
            for spec in getattr(item.module, "IMAGES", ())
        ]

    def header_lines(self) -> list[str]:
        numbers = [item.stage.number for item in self.selected]
        if len(numbers) == 1:
            selection = f"stage {numbers[0]}"
        else:
            selection = f"stages {numbers[0]} to {numbers[-1]}"
        settings = self.settings
        return [
            f"stages: grading {settings.program_label} in {settings.program_dir}",
            f"stages: {selection}, seed {settings.seed} "
            f"(rerun with --stages-seed {settings.seed}), "
            f"timeout {settings.timeout:g} s per run",
            f"stages: session container: {self.backend} ({self.backend_reason})",
            f"stages: registry: {self._registry_line()}",
        ]

    def _registry_line(self) -> str:
        if self.settings.registry == "docker.io":
            return "the real Docker Hub (--registry docker.io), over the host's network"
        if self.backend == "none":
            return "none: the hub runs only in a session container"
        return "the hub, answering as Docker Hub inside the session"

    def reason_not_run(self, stage: Stage) -> str | None:
        """Say why a check must not run, or return None when it may."""
        failed = self.failed_stage
        if failed is None:
            return None
        if failed.number == stage.number:
            return f"not run: an earlier check of {stage.label} failed"
        return f"not reached: {failed.label} failed"

    def record(
        self,
        stage: Stage,
        item: pytest.Item,
        report: pytest.TestReport,
        failure: Failure | None,
    ) -> None:
        """Count one phase report of a check towards its stage."""
        outcome = self.outcomes[stage.number]
        outcome.duration += report.duration
        if report.skipped and report.when == "setup":
            outcome.not_run += 1
        elif report.failed:
            if not outcome.failed:
                outcome.failure = failure
                outcome.failed_check = _check_title(item)
            outcome.failed += 1
            self.failed_stage = self.failed_stage or stage
        elif report.passed and report.when == "call":
            outcome.passed += 1

    def summary_lines(self) -> list[tuple[str, dict[str, bool]]]:
        """Return the per-stage summary, one line per stage, with terminal markup."""
        lines = []
        for number, outcome in self.outcomes.items():
            stage = outcome.stage
            head = f"stage {number:<2} {stage.slug:<14} {outcome.status:<12}"
            if outcome.status == "failed":
                detail = outcome.failure.summary if outcome.failure else ""
                detail = detail or (outcome.failed_check or "")
                lines.append((f"{head} {detail}", {"red": True, "bold": True}))
            elif outcome.status == "passed":
                checks = f"{outcome.passed} check{'s' * (outcome.passed != 1)}"
                text = f"{head} {checks}, {outcome.duration:.2f} s"
                lines.append((text, {"green": True}))
            else:
                lines.append((head, {"yellow": True}))
        lines.append((self._next_step(), {"bold": True}))
        return lines

    def _next_step(self) -> str:
        failed = self.failed_stage
        if failed is not None:
            return (
                f"Next: fix {failed.label}. Its instructions: "
                f"pytest-stages instructions {failed.number}"
                f"{self._instructions_file(failed)}"
            )
        highest = self.selected[-1].stage.number
        later = [item for item in self.stages if item.stage.number > highest]
        if not later:
            return "Every stage of the course passed."
        upcoming = later[0].stage
        return (
            f"Next: {upcoming.label}, {upcoming.title}. Read its instructions with "
            f"`pytest-stages instructions {upcoming.number}`"
            f"{self._instructions_file(upcoming)}, then run "
            f"`pytest --stage {upcoming.number}`."
        )

    def _instructions_file(self, stage: Stage) -> str:
        """Return `` (also in PATH)`` for the stage's English instructions file, if any."""
        for item in self.stages:
            path = item.path.parent / "instructions" / f"{stage.slug}.en.md"
            if item.stage.number == stage.number and path.is_file():
                return f" (also in {path})"
        return ""


def _check_title(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "obj", None), "__doc__", None)
    return doc.strip().splitlines()[0] if doc else item.name
