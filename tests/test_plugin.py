"""Tests for the grading plugin, driven as a student runs it: pytest in a subprocess."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from conftest import BACKEND, RUN_TIMEOUT, Grader, backend_header

FAKE_RUNTIME = """\
import os
import sys

if sys.argv[1:2] != ["run"] or len(sys.argv) < 4:
    sys.exit("usage: python3 -m fakeruntime run IMAGE COMMAND [ARG...]")
os.execvp(sys.argv[3], sys.argv[3:])
"""


def command_lines(result: pytest.RunResult) -> list[str]:
    """Return the program's command lines that the live transcript echoed."""
    return [line for line in result.outlines if line.startswith("$ ")]


def test_idle_without_stage(grader: Grader) -> None:
    grader.pytester.makepyfile(test_ordinary="def test_ordinary():\n    assert True\n")

    result = grader.run(backend=False)

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_ordinary.py .*"])
    result.stdout.no_fnmatch_line("stages:*")
    result.stdout.no_fnmatch_line("*= stages =*")


def test_stage_3_runs_stages_in_order(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--stage", "3", "-v")

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(
        [
            "*test_runs_the_command PASSED*",
            "*test_runs_on_a_terminal PASSED*",
            "*test_stdout_is_exactly_the_commands PASSED*",
            "*test_waits_for_late_output PASSED*",
            "*test_passes_exit_codes PASSED*",
            "*test_reports_a_signal_as_a_shell_does PASSED*",
            "*= stages =*",
            "stage 1  exec * passed * 3 checks, * s",
            "stage 2  stdio * passed * 5 checks, * s",
            "stage 3  exit-codes * passed * 2 checks, * s",
            "Next: *",
        ]
    )


def test_only_stage_runs_one_stage(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--only-stage", "2")

    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        ["stages: stage 2, seed *", "*= stages =*", "stage 2  stdio * passed *"]
    )
    result.stdout.no_fnmatch_line("stage 1 *")
    result.stdout.no_fnmatch_line("stage 3 *")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stage", "99"], "*There is no stage 99. The stages are 1, 2, 3*"),
        (["--stage", "0"], "*--stage 0 is invalid: stages are numbered from 1.*"),
        (["--stage", "-2"], "*--stage -2 is invalid: stages are numbered from 1.*"),
        (["--only-stage", "0"], "*--only-stage 0 is invalid*"),
        (["--only-stage", "99"], "*There is no stage 99.*"),
        (
            ["--stage", "2", "--only-stage", "2"],
            "*--stage and --only-stage were both given*",
        ),
        (["--stage", "two"], "*--stage: invalid int value: 'two'*"),
    ],
)
def test_stage_selection_usage_error(
    grader: Grader, args: list[str], message: str
) -> None:
    grader.install("runtime.sh")

    result = grader.run(*args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*passed*")


def test_failing_stage_stops_run(grader: Grader) -> None:
    grader.install("merges_stderr.sh")

    result = grader.run("--stage", "3")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=4, failed=1, skipped=5)
    result.stdout.fnmatch_lines(
        [
            "*= stages =*",
            "stage 1  exec * passed *",
            "stage 2  stdio * failed * The command's stderr appeared on stdout.",
            "stage 3  exit-codes * not reached*",
            "Next: fix stage 2 (stdio)*",
        ]
    )
    result.stdout.no_fnmatch_line("stage 3 * failed*")


def test_header_states_settings(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--only-stage", "1", "--stages-seed", "4242")

    result.stdout.fnmatch_lines(
        [
            f"stages: grading ./your_program.sh in {grader.path}",
            "stages: stage 1, seed 4242 (rerun with --stages-seed 4242), "
            "timeout 10 s per run",
            backend_header(),
        ]
    )


def test_header_names_stage_range(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--stage", "2", "--stages-timeout", "2.5")

    result.stdout.fnmatch_lines(
        ["stages: stages 1 to 2, seed *, timeout 2.5 s per run"]
    )


def test_same_seed_same_values(grader: Grader) -> None:
    grader.install("runtime.sh")

    first = grader.run("--only-stage", "1", "--stages-seed", "777")
    second = grader.run("--only-stage", "1", "--stages-seed", "777")
    other = grader.run("--only-stage", "1", "--stages-seed", "778")

    assert len(command_lines(first)) == 3
    assert command_lines(first) == command_lines(second)
    for ours, theirs in zip(command_lines(first), command_lines(other), strict=True):
        assert ours != theirs


def test_missing_program(grader: Grader) -> None:
    result = grader.run("--stage", "1")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*No program to grade: neither ./your_program.sh nor ./your_docker.sh "
            f"exists in {grader.path}.*--program COMMAND*"
        ]
    )


def test_program_not_executable(grader: Grader) -> None:
    grader.install("runtime.sh").chmod(0o644)

    result = grader.run("--stage", "1")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is not executable*`chmod +x ./your_program.sh`*"])


def test_program_not_on_path(grader: Grader) -> None:
    result = grader.run("--stage", "1", "--program", "no-such-runtime run")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'no-such-runtime' was not found on PATH*"])


def test_program_path_missing(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--stage", "1", "--program", "./typo.sh")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*./typo.sh does not exist in {grader.path}*"])


def test_your_docker_sh_fallback(grader: Grader) -> None:
    grader.install("runtime.sh", name="your_docker.sh")

    result = grader.run("--stage", "1")

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["stages: grading ./your_docker.sh in *"])


def test_your_program_sh_preferred(grader: Grader) -> None:
    grader.install("runtime.sh")
    grader.install("prints_something_else.sh", name="your_docker.sh")

    result = grader.run("--stage", "1")

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["stages: grading ./your_program.sh in *"])


def test_program_as_command_line(grader: Grader) -> None:
    grader.pytester.mkpydir("fakeruntime")
    (grader.path / "fakeruntime" / "__main__.py").write_text(FAKE_RUNTIME)

    result = grader.run("--stage", "1", "--program", "python3 -m fakeruntime")

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            f"stages: grading python3 -m fakeruntime in {grader.path}",
            "$ python3 -m fakeruntime run ubuntu:latest *",
        ]
    )


def test_ini_keys(grader: Grader, monkeypatch: pytest.MonkeyPatch) -> None:
    grader.pytester.mkpydir("fakeruntime")
    (grader.path / "fakeruntime" / "__main__.py").write_text(FAKE_RUNTIME)
    grader.pytester.makeini(
        f"""
        [pytest]
        stages_program = python3 -m fakeruntime
        stages_timeout = 4
        stages_backend = {BACKEND}
        """
    )
    # The program from the ini file runs in the ini file's folder, wherever
    # pytest was started: python3 -m finds fakeruntime only there.
    started_in = grader.path / "elsewhere"
    started_in.mkdir()
    monkeypatch.chdir(started_in)

    result = grader.run("--stage", "1", backend=False)

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            f"stages: grading python3 -m fakeruntime in {grader.path}",
            "stages: stage*, timeout 4 s per run",
            backend_header(),
        ]
    )


def test_option_beats_ini_key(grader: Grader) -> None:
    grader.install("runtime.sh")
    grader.pytester.makeini(
        """
        [pytest]
        stages_program = ./no-such-program.sh
        stages_timeout = 4
        """
    )

    result = grader.run(
        "--stage", "1", "--program", "./your_program.sh", "--stages-timeout", "3"
    )

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["stages: grading ./your_program.sh in *", "*3 s per run"]
    )


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "stages_timeout = soon",
            "*stages_timeout = 'soon' in the ini file is invalid: give a number of "
            "seconds*",
        ),
        ("stages_timeout = -1", "*timeout -1 is invalid: give a positive number*"),
        (
            "stages_backend = cloud",
            "*stages_backend = 'cloud' in the ini file is invalid*",
        ),
    ],
)
def test_invalid_ini_value(grader: Grader, ini: str, message: str) -> None:
    grader.install("runtime.sh")
    grader.pytester.makeini(f"[pytest]\n{ini}\n")

    result = grader.run("--stage", "1", backend=False)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_invalid_timeout_option(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--stage", "1", "--stages-timeout", "0")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*timeout 0 is invalid*"])


def make_impostor_folders(folder: Path) -> None:
    """Create a student's own ``stages`` and ``solution`` packages that must stay unused."""
    for name in ("stages", "solution"):
        package = folder / name
        package.mkdir()
        (package / "__init__.py").write_text(
            f"raise RuntimeError('the student folder {name}/ was imported')\n"
        )
    (folder / "stages" / "stage1_exec.py").write_text(
        textwrap.dedent(
            """\
            from pytest_stages import Stage

            STAGE = Stage(number=1, slug="impostor", title="Not the course")


            def test_impostor():
                assert False, "the student's stage 1 ran"
            """
        )
    )


def pytest_command(launcher: str) -> list[str]:
    if launcher == "python -m pytest":
        return [sys.executable, "-m", "pytest"]
    script = Path(sys.executable).with_name("pytest")
    if not script.exists():
        script = Path(shutil.which("pytest") or "pytest")
    return [str(script)]


@pytest.mark.parametrize("launcher", ["python -m pytest", "pytest"])
def test_student_folders_do_not_shadow(grader: Grader, launcher: str) -> None:
    grader.install("runtime.sh")
    make_impostor_folders(grader.path)
    grader.pytester.makepyfile(
        test_mine="def test_mine():\n    assert True\n",
    )

    result = grader.pytester.run(
        *pytest_command(launcher),
        "-p",
        "no:cacheprovider",
        "--stages-backend",
        BACKEND,
        "--stage",
        "1",
        timeout=RUN_TIMEOUT,
    )

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["stage 1  exec * passed *"])
    result.stdout.no_fnmatch_line("*impostor*")
    assert "was imported" not in result.stdout.str() + result.stderr.str()


def test_transcript_on_failure(grader: Grader) -> None:
    grader.install("merges_stderr.sh")

    result = grader.run("--only-stage", "2", "-q")

    result.stdout.fnmatch_lines(
        [
            "*_ test_stderr_arrives_on_stderr _*",
            "The command's stderr appeared on stdout.",
            "Command: * ./your_program.sh run ubuntu:latest * echo_stderr err-*",
            "*- Transcript of the program's runs -*",
            "$ ./your_program.sh run ubuntu:latest * echo_stderr err-*",
            "[[]your_program] err-*",
            "(exit status 0, * s)",
        ]
    )


def test_transcript_absent_on_pass(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--only-stage", "2", "-q")

    result.assert_outcomes(passed=5)
    result.stdout.no_fnmatch_line("*Transcript of the program's runs*")


def test_junit_xml_stage_property(grader: Grader) -> None:
    grader.install("merges_stderr.sh")

    grader.run("--stage", "3", "-q", "--junitxml", "report.xml")

    tree = ElementTree.parse(grader.path / "report.xml")
    cases = tree.getroot().findall(".//testcase")
    stages = {
        case.get("name"): [
            prop.get("value")
            for prop in case.findall("./properties/property")
            if prop.get("name") == "stage"
        ]
        for case in cases
    }
    assert len(cases) == 10
    assert stages["test_runs_the_command"] == ["1"]
    assert stages["test_stderr_arrives_on_stderr"] == ["2"]
    assert stages["test_waits_for_late_output"] == ["2"]
    assert stages["test_passes_exit_codes"] == ["3"]
    assert stages["test_reports_a_signal_as_a_shell_does"] == ["3"]


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_timeout_must_be_finite(grader: Grader, value: str) -> None:
    grader.install("runtime.sh")

    result = grader.run("--only-stage", "1", "--stages-timeout", value)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*timeout {value} is invalid*"])


def test_node_ids_name_stage_module(grader: Grader) -> None:
    grader.install("merges_stderr.sh")

    result = grader.run("--stage", "2", "-q", "-rf", "--junitxml", "report.xml")

    result.stdout.fnmatch_lines(
        ["FAILED *stage2_stdio.py::test_stderr_arrives_on_stderr*"]
    )
    tree = ElementTree.parse(grader.path / "report.xml")
    for case in tree.getroot().iter("testcase"):
        assert case.get("classname")


def test_live_transcript_shown(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--only-stage", "1")

    result.stdout.fnmatch_lines(
        [
            "$ ./your_program.sh run ubuntu:latest * echo *",
            "[[]your_program] *",
            "(exit status 0)",
        ]
    )


def test_quiet_hides_live_transcript(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--only-stage", "1", "-q")

    result.assert_outcomes(passed=3)
    result.stdout.no_fnmatch_line("$ ./your_program.sh *")
    result.stdout.no_fnmatch_line("[[]your_program] *")


def test_live_transcript_without_capture(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--only-stage", "1", "-p", "no:capture")

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["$ ./your_program.sh run ubuntu:latest * echo *"])


NETWORK_PROBE = """#!/bin/sh
# Records the network namespace it runs in, then runs the command.
readlink /proc/self/ns/net > network-namespace
shift 2
exec "$@"
"""


@pytest.mark.skipif(BACKEND == "none", reason="needs a session container")
@pytest.mark.parametrize(
    ("options", "same_network"),
    [((), False), (("--registry", "docker.io"), True)],
)
def test_registry_option_network(
    grader: Grader, options: tuple[str, ...], same_network: bool
) -> None:
    program = grader.path / "your_program.sh"
    program.write_text(NETWORK_PROBE)
    program.chmod(0o755)

    result = grader.run("--only-stage", "1", *options)

    result.assert_outcomes(passed=3)
    if same_network:
        result.stdout.fnmatch_lines(["stages: registry: the real Docker Hub *"])
    else:
        result.stdout.fnmatch_lines(["stages: registry: the hub, *"])
    inside = (grader.path / "network-namespace").read_text().strip()
    assert (inside == os.readlink("/proc/self/ns/net")) is same_network


def test_invalid_registry_ini(grader: Grader) -> None:
    grader.install("runtime.sh")
    grader.pytester.makeini("[pytest]\nstages_registry = quay.io\n")

    result = grader.run("--only-stage", "1")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*stages_registry = 'quay.io'*invalid*docker.io*"])
