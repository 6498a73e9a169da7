"""The `pytest-stages` command: instructions, starters and the delegated commands."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_stages import cli
from pytest_stages.discovery import LoadedStage, discover_stages
from pytest_stages.stage import Stage

BUILTIN_SLUGS = [
    "exec",
    "stdio",
    "exit-codes",
    "chroot",
    "pid-namespace",
    "registry-pull",
]


@pytest.fixture(autouse=True)
def english_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test from an unset locale, whatever the machine's is."""
    for variable in cli.LOCALE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "en"),
        ({"LANG": "ja_JP.UTF-8"}, "ja"),
        ({"LANG": "ja"}, "ja"),
        ({"LANG": "C"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),
        ({"LANG": "ja_JP.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "ja_JP.eucJP"}, "ja"),
        ({"LC_ALL": "", "LANG": "ja_JP.UTF-8"}, "ja"),
        ({"LANG": "ja_JP.UTF-8@modifier"}, "ja"),
    ],
)
def test_locale_language(environ: dict[str, str], expected: str) -> None:
    assert cli.locale_language(environ) == expected


def test_instructions_lists_the_stages(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["instructions"])

    output = capsys.readouterr().out
    assert status == 0
    for number, slug in enumerate(BUILTIN_SLUGS, start=1):
        assert f"{number:>3}  {slug}" in output
    assert "Run a command" in output
    assert "pytest-stages instructions N" in output


def test_instructions_of_a_stage(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["instructions", "4"])

    captured = capsys.readouterr()
    assert status == 0
    assert captured.out.startswith("# Stage 4: Isolate the filesystem with chroot\n")
    assert captured.err == ""


def test_instructions_follow_the_locale(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")

    status = cli.main(["instructions", "1"])

    assert status == 0
    assert capsys.readouterr().out.startswith("# ステージ 1:")


def test_lang_option_overrides_the_locale(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_ALL", "ja_JP.UTF-8")

    status = cli.main(["instructions", "1", "--lang", "en"])

    assert status == 0
    assert capsys.readouterr().out.startswith("# Stage 1: Run a command")


def test_unknown_stage_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["instructions", "99"])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert "there is no stage 99. The stages are 1, 2, 3, 4, 5, 6" in captured.err


def test_unknown_language_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["instructions", "1", "--lang", "fr"])

    assert exit_info.value.code == 2
    assert "invalid choice: 'fr'" in capsys.readouterr().err


def _stage_with(instructions: dict[str, str]) -> LoadedStage:
    item = discover_stages()[0]
    stage = Stage(number=9, slug="example", title="Example", instructions=instructions)
    return LoadedStage(stage, item.module, item.path, "entry point example")


def test_missing_language_falls_back_to_english() -> None:
    text, note = cli.instructions_text(_stage_with({"en": "# Stage 9\n"}), "ja")

    assert text == "# Stage 9\n"
    assert (
        note == "note: stage 9 (example) has no instructions in 'ja'; showing English."
    )


def test_no_instructions_at_all() -> None:
    text, note = cli.instructions_text(_stage_with({"de": "# Stufe 9\n"}), "ja")

    assert text is None
    assert "no instructions in 'ja' or English (languages: de)" in note


def test_stage_list_marks_stage_packs() -> None:
    listing = cli.format_stage_list([_stage_with({"en": "x"})])

    assert "  9  example          Example  [stage pack: " in listing


def test_starter_creates_a_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mine"

    status = cli.main(["starter", "go", str(target)])

    assert status == 0
    assert (target / "app" / "main.go").is_file()
    assert (target / "go.mod").is_file()
    assert (target / ".gitignore").read_text() == ".build/\n"
    assert (target / "your_program.sh").stat().st_mode & stat.S_IXUSR
    assert f"cd {target}" in capsys.readouterr().out


def test_starter_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    status = cli.main(["starter", "nim"])

    assert status == 0
    assert (tmp_path / "my-docker-nim" / "src" / "main.nim").is_file()


def test_starter_fills_an_empty_folder(tmp_path: Path) -> None:
    status = cli.main(["starter", "c", str(tmp_path)])

    assert status == 0
    assert (tmp_path / "src" / "main.c").is_file()


def test_starter_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    status = cli.main(["starter", "python", str(tmp_path)])

    assert status == 1
    assert f"{tmp_path} is not empty" in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_starter_rejects_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file"
    target.write_text("")

    status = cli.main(["starter", "python", str(target)])

    assert status == 1
    assert "exists and is not a folder" in capsys.readouterr().err


def test_starter_rejects_an_unknown_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["starter", "cobol", str(tmp_path / "x")])

    assert exit_info.value.code == 2
    assert "invalid choice: 'cobol'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_hub_is_delegated(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["hub", "--help"])

    assert exit_info.value.code == 0
    assert "serve" in capsys.readouterr().out


def test_grade_is_delegated(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pytest_stages.grading")

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["grade", "--help"])

    assert exit_info.value.code == 0
    assert "--stage" in capsys.readouterr().out


def test_missing_delegate_is_reported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(cli.DELEGATED, "merge", ("pytest_stages.no_such_module", True))

    status = cli.main(["merge", "a.json"])

    assert status == 2
    assert "no pytest_stages.no_such_module module" in capsys.readouterr().err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])

    output = capsys.readouterr().out
    for command in ("instructions", "starter", "grade", "merge", "hub"):
        assert command in output


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main([])

    assert status == 2
    assert "usage: pytest-stages" in capsys.readouterr().out


def test_console_script_runs(tmp_path: Path) -> None:
    script = shutil.which("pytest-stages")
    command = [script] if script else [sys.executable, "-m", "pytest_stages.cli"]
    environment = {**os.environ, "LANG": "ja_JP.UTF-8"}
    environment.pop("LC_ALL", None)
    environment.pop("LC_MESSAGES", None)

    result = subprocess.run(
        [*command, "instructions", "2"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# ステージ 2:")
