"""The pytest plugin: grades a program through the stages with ``pytest --stage N``."""

from __future__ import annotations

import dataclasses
import os
import random
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_stages import options, session
from pytest_stages.discovery import LoadedStage
from pytest_stages.failures import (
    PREFIX,
    STDERR_PREFIX,
    CheckFailed,
    Failure,
    format_run,
)
from pytest_stages.report import ReportWriter
from pytest_stages.runner import ProgramRunner, RunResult
from pytest_stages.session import GradingState
from pytest_stages.stage import Stage

state_key = pytest.StashKey[GradingState]()
stage_key = pytest.StashKey[Stage]()
runs_key = pytest.StashKey[list[RunResult]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Move a grading run into the session container, unless it is there already."""
    if not options.is_grading_run(config):
        return None
    return session.run_outside(config)


def pytest_configure(config: pytest.Config) -> None:
    if not options.is_grading_run(config):
        return
    state = session.prepare_inside(config)
    config.stash[state_key] = state
    # Collect the selected stage modules instead of the paths pytest was given.
    config.args = [str(item.path) for item in state.selected]
    config.pluginmanager.register(_StagePlugin(state), "stages-grading")
    config.pluginmanager.register(ReportWriter(config, state), "stages-report")


class StageModule(pytest.Module):
    """A stage module, collected from the module object the plugin loaded.

    pytest would import the file again by its own rules, and a student's
    folder named like the stage's package could then shadow it.
    """

    loaded: LoadedStage

    def _getobj(self):  # noqa: ANN202 - pytest's own signature
        self.config.pluginmanager.consider_module(self.loaded.module)
        return self.loaded.module


class _StagePlugin:
    """Hooks that are active only in a grading run."""

    def __init__(self, state: GradingState) -> None:
        self.state = state
        self.by_path = {item.path: item for item in state.selected}

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return self.state.header_lines()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # The hub serves Docker Hub's host names, which only the session
        # container maps to this machine, so without a container there is none.
        if self.state.backend == "none" or self.state.settings.registry != "hub":
            return
        from pytest_stages.hubsession import start_session_hub

        try:
            self.state.hub = start_session_hub(
                Path(self.state.explorer_path),
                self.state.settings.seed,
                extra_specs=self.state.pack_images(),
            )
        except OSError as error:
            pytest.exit(f"The hub failed to start in the session: {error}", 4)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.state.hub is not None:
            self.state.hub.stop()

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makemodule(self, module_path: Path, parent):  # noqa: ANN001
        loaded = self.by_path.get(module_path.resolve())
        if loaded is None:
            return None
        # Stage modules usually lie outside the rootdir, where pytest would give
        # them an empty node ID; name them by their folder and file instead.
        nodeid = f"{loaded.path.parent.name}/{loaded.path.name}"
        module = StageModule.from_parent(parent, path=module_path, nodeid=nodeid)
        module.loaded = loaded
        return module

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            module = item.getparent(StageModule)
            if module is not None:
                item.stash[stage_key] = module.loaded.stage
        # Stages run in order of their numbers; checks keep their file order.
        items.sort(key=lambda item: item.stash.get(stage_key, None).number)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        reason = self.state.reason_not_run(item.stash[stage_key])
        if reason:
            pytest.skip(reason)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Iterator[None]:
        report = yield
        stage = item.stash[stage_key]
        runs = item.stash.get(runs_key, [])
        failure = None
        if call.excinfo is not None and isinstance(call.excinfo.value, CheckFailed):
            failure = self._with_pull_hint(call.excinfo.value.failure)
            report.longrepr = failure.render()
        if report.failed and runs:
            transcript = "\n\n".join(format_run(run) for run in runs)
            report.sections.append(("Transcript of the program's runs", transcript))
        # pytest shares one user_properties list among an item's phase reports.
        for stage_property in (("stage", stage.number), ("stage_slug", stage.slug)):
            if stage_property not in report.user_properties:
                report.user_properties.append(stage_property)
        self.state.record(stage, item, report, failure)
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        # A check's failure is explained by the hub requests of its own runs only.
        if self.state.hub is not None:
            self.state.hub.hub.clear_requests_log()

    def _with_pull_hint(self, failure: Failure) -> Failure:
        """Put first the hint of a pull that went wrong during the check.

        Every stage names an image, so a program that pulls it fails the
        earliest stage when its pull is broken, where the stage's own hint
        would point elsewhere.
        """
        if self.state.hub is None:
            return failure
        from pytest_stages.pullhints import explain_pull

        pull_hint = explain_pull(self.state.hub.hub.requests_log)
        if pull_hint is None or pull_hint in (failure.hint or ""):
            return failure
        hint = f"Your program pulls the image, and the pull went wrong. {pull_hint}"
        if failure.hint:
            hint += f" If that is not it: {failure.hint}"
        return dataclasses.replace(failure, hint=hint)

    def pytest_terminal_summary(self, terminalreporter) -> None:  # noqa: ANN001
        terminalreporter.section("stages")
        for line, markup in self.state.summary_lines():
            terminalreporter.write_line(line, **markup)


@pytest.fixture
def stages_state(request: pytest.FixtureRequest) -> GradingState:
    """The settings and progress of the grading run."""
    try:
        return request.config.stash[state_key]
    except KeyError:
        pytest.skip("stage checks run only in a grading run: pytest --stage N")


@pytest.fixture
def program(
    request: pytest.FixtureRequest, stages_state: GradingState
) -> ProgramRunner:
    """The student's program, ready to run as ``program.run(image, command)``.

    Every run is kept for the transcript shown when the check fails.
    """
    settings = stages_state.settings
    runs: list[RunResult] = []
    request.node.stash[runs_key] = runs
    live = _LiveTranscript(request.config) if stages_state.live else None
    runner = _RecordingRunner(
        settings.program,
        cwd=settings.program_dir,
        timeout=settings.timeout,
        env=dict(os.environ),
        on_line=live.line if live else None,
    )
    runner.runs = runs
    runner.live = live
    return runner


@pytest.fixture
def explorer(stages_state: GradingState) -> str:
    """The path of the explorer inside the program's filesystem, to pass as the command."""
    return stages_state.explorer_path


@pytest.fixture
def image(stages_state: GradingState) -> str:
    """The image name the stages before the registry stage pass to the program."""
    return options.DEFAULT_IMAGE


@pytest.fixture
def registry(stages_state: GradingState) -> str:
    """Where images come from: ``hub`` or ``docker.io`` (``--registry``)."""
    return stages_state.settings.registry


@pytest.fixture
def hub(stages_state: GradingState):  # noqa: ANN201
    """The session's hub (``pytest_stages.hubsession.SessionHub``).

    None with ``--registry docker.io``, where the real Docker Hub serves the
    images.
    """
    if stages_state.settings.registry == "docker.io":
        return None
    if stages_state.hub is None:
        pytest.fail(
            "This stage pulls images from the hub, which runs only inside the "
            "session container; run without --stages-backend none.",
            pytrace=False,
        )
    return stages_state.hub


@pytest.fixture
def values(request: pytest.FixtureRequest, stages_state: GradingState) -> random.Random:
    """A random generator for this check, seeded from the run's seed and its name.

    The same ``--stages-seed`` gives every check the same values again.
    """
    return random.Random(f"{stages_state.settings.seed}:{request.node.name}")


class _RecordingRunner(ProgramRunner):
    runs: list[RunResult]
    live: _LiveTranscript | None

    def run(self, image: str, command) -> RunResult:  # noqa: ANN001
        if self.live:
            self.live.command(self.argv(image, command))
        result = super().run(image, command)
        self._keep(result)
        return result

    def run_in_terminal(self, image: str, command) -> RunResult:  # noqa: ANN001
        if self.live:
            self.live.command(self.argv(image, command))
        result = super().run_in_terminal(image, command)
        if self.live:
            for line in result.stdout.splitlines():
                self.live.line("stdout", line.rstrip(b"\r"))
        self._keep(result)
        return result

    def _keep(self, result: RunResult) -> None:
        self.runs.append(result)
        if self.live:
            self.live.end(result)


class _LiveTranscript:
    """Writes each command and its output lines to the terminal as they happen."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")
        self.capture = config.pluginmanager.get_plugin("capturemanager")

    def command(self, argv: tuple[str, ...]) -> None:
        self.text(f"$ {shlex.join(argv)}")

    def line(self, stream: str, line: bytes) -> None:
        prefix = PREFIX if stream == "stdout" else STDERR_PREFIX
        self.text(f"{prefix} {line.decode('utf-8', 'backslashreplace')}")

    def end(self, result: RunResult) -> None:
        self.text(f"({result.describe_end()})")

    def text(self, text: str) -> None:
        if self.reporter is None:
            sys.stderr.write(text + "\n")
            return
        if self.capture is None:  # pytest runs with -p no:capture
            self.reporter.write_line(text)
            return
        with self.capture.global_and_fixture_disabled():
            self.reporter.ensure_newline()
            self.reporter.write_line(text)
