"""Tests for the JSON report, the points per stage and the JUnit XML properties."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import BACKEND, Grader

from pytest_stages.report import SCHEMA_VERSION, load_schema


def read_report(path: Path) -> dict[str, Any]:
    """Read a report and validate it against the shipped schema."""
    report = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(load_schema()).validate(report)
    return report


def by_number(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {stage["number"]: stage for stage in report["stages"]}


def test_schema_is_valid_json_schema() -> None:
    schema = load_schema()

    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_report_of_passing_run(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--stage", "3", "--stages-report", "out/report.json")

    assert result.ret == 0
    report = read_report(grader.path / "out" / "report.json")
    assert report["outcome"] == "passed"
    assert report["exit_status"] == 0
    assert report["interrupted"] is False
    assert report["backend"] == BACKEND
    assert report["program"]["command"] == "./your_program.sh"
    assert report["program"]["folder"] == str(grader.path)
    assert report["selection"] == {"stage": 3, "only": False}
    assert report["highest_stage_passed"] == 3
    assert report["points"] == {"earned": 3, "possible": 3}
    stages = by_number(report)
    for number in (1, 2, 3):
        assert stages[number]["outcome"] == "passed"
        assert stages[number]["failure"] is None
        assert stages[number]["checks"]["passed"] >= 1
    later = [stage for number, stage in stages.items() if number > 3]
    assert all(stage["outcome"] == "skipped" for stage in later)
    assert all(stage["points"]["earned"] == 0 for stage in later)
    assert f"--stages-seed {report['seed']}" in result.stdout.str()
    result.stdout.fnmatch_lines(["points: 3 of 3", "stages: JSON report written to *"])


def test_report_of_failing_run(grader: Grader) -> None:
    grader.install("always_exits_0.sh")

    result = grader.run("--stage", "3", "--stages-report", "report.json")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = read_report(grader.path / "report.json")
    assert report["outcome"] == "failed"
    assert report["exit_status"] == 1
    assert report["highest_stage_passed"] == 2
    assert report["points"] == {"earned": 2, "possible": 3}
    stage = by_number(report)[3]
    assert stage["outcome"] == "failed"
    assert stage["points"] == {"earned": 0, "possible": 1}
    failure = stage["failure"]
    assert failure["check"]
    assert "exit" in failure["summary"]
    assert failure["command"].startswith("./your_program.sh run ")
    assert failure["expected"]
    assert failure["actual"]
    assert failure["hint"]


def test_report_of_stage_not_reached(grader: Grader) -> None:
    grader.install("prints_something_else.sh")

    result = grader.run("--stage", "3", "--stages-report", "report.json")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = read_report(grader.path / "report.json")
    stages = by_number(report)
    assert report["highest_stage_passed"] is None
    assert stages[1]["outcome"] == "failed"
    assert stages[2]["outcome"] == "not reached"
    assert stages[3]["outcome"] == "not reached"
    assert stages[2]["checks"]["not_run"] >= 1


def test_report_of_only_stage(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--only-stage", "2", "--stages-report", "report.json")

    assert result.ret == 0
    report = read_report(grader.path / "report.json")
    stages = by_number(report)
    assert report["selection"] == {"stage": 2, "only": True}
    assert stages[1]["outcome"] == "skipped"
    assert stages[2]["outcome"] == "passed"
    assert stages[3]["outcome"] == "skipped"
    assert report["points"] == {"earned": 1, "possible": 1}


def test_report_path_from_ini(grader: Grader) -> None:
    grader.install("runtime.sh")
    grader.pytester.makeini("[pytest]\nstages_report = reports/from-ini.json\n")

    result = grader.run("--stage", "1")

    assert result.ret == 0
    report = read_report(grader.path / "reports" / "from-ini.json")
    assert report["highest_stage_passed"] == 1
    assert list((grader.path / "reports").iterdir()) == [
        grader.path / "reports" / "from-ini.json"
    ]


def test_points_from_ini(grader: Grader) -> None:
    grader.install("always_exits_0.sh")
    grader.pytester.makeini(
        "[pytest]\nstages_points =\n    1=1\n    stdio=2.5\n    exit-codes=4\n"
    )

    result = grader.run("--stage", "3", "--stages-report", "report.json")

    report = read_report(grader.path / "report.json")
    stages = by_number(report)
    assert report["points"] == {"earned": 3.5, "possible": 7.5}
    assert stages[2]["points"] == {"earned": 2.5, "possible": 2.5}
    assert stages[3]["points"] == {"earned": 0, "possible": 4}
    result.stdout.fnmatch_lines(["points: 3.5 of 7.5"])


@pytest.mark.parametrize("line", ["9=1", "nosuchstage=1", "1=many", "1=-2", "1"])
def test_points_line_invalid(grader: Grader, line: str) -> None:
    grader.install("runtime.sh")
    grader.pytester.makeini(f"[pytest]\nstages_points =\n    {line}\n")

    result = grader.run("--stage", "1")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*stages_points line '{line}'*invalid*"])


def test_junitxml_carries_stage(grader: Grader) -> None:
    grader.install("runtime.sh")

    result = grader.run("--stage", "2", "--junitxml", "junit.xml")

    assert result.ret == 0
    tree = ElementTree.parse(grader.path / "junit.xml")
    cases = tree.getroot().findall(".//testcase")
    assert cases
    for case in cases:
        properties = [
            (prop.get("name"), prop.get("value")) for prop in case.iter("property")
        ]
        assert len(properties) == 2, properties
        assert properties[0][0] == "stage"
        assert properties[1][0] == "stage_slug"
    found = {
        (prop.get("name"), prop.get("value"))
        for prop in tree.getroot().iter("property")
    }
    assert ("stage", "1") in found
    assert ("stage_slug", "exec") in found
    assert ("stage", "2") in found
    assert ("stage_slug", "stdio") in found


def test_next_step_names_instructions(grader: Grader) -> None:
    grader.install("always_exits_0.sh")

    result = grader.run("--stage", "3")

    result.stdout.fnmatch_lines(
        [
            "Next: fix stage 3 (exit-codes). Its instructions: "
            "pytest-stages instructions 3 (also in */instructions/exit-codes.en.md)"
        ]
    )


def test_report_write_leaves_no_temporary(tmp_path: Path) -> None:
    from pytest_stages.report import write_atomically

    path = tmp_path / "report.json"
    path.write_text("old", encoding="utf-8")

    write_atomically(path, {"a": 1})

    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 1}
    assert [entry.name for entry in tmp_path.iterdir()] == ["report.json"]


def test_report_unwritable_path(grader: Grader) -> None:
    grader.install("runtime.sh")
    (grader.path / "a_file").write_text("not a folder", encoding="utf-8")

    result = grader.run("--stage", "1", "--stages-report", "a_file/report.json")

    assert result.ret in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR)
    output = result.stdout.str() + result.stderr.str()
    assert "a_file/report.json" in output
    assert "cannot be" in output
