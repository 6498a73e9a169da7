"""The `pytest-stages` command: read the instructions, start a project, grade a class."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence

import pytest

from pytest_stages import starters
from pytest_stages.discovery import LoadedStage, discover_stages

LANGUAGES = ("en", "ja")
DEFAULT_LANGUAGE = "en"
# The variables that choose the language of messages, in the order POSIX
# gives them precedence: the first one that is set and not empty wins.
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")

# Subcommands that other modules implement. Each one is looked up when it is
# used, so this command works while a module is missing from an installation.
# The value is the module, and whether the subcommand's name is passed on as
# the first argument (one `main` serves both `grade` and `merge`).
DELEGATED = {
    "grade": ("pytest_stages.grading", True),
    "merge": ("pytest_stages.grading", True),
    "hub": ("pytest_stages.hub", False),
}
DELEGATED_HELP = {
    "grade": "grade a class's programs and write a report (see `pytest-stages grade --help`)",
    "merge": "join the grade tables of several shards into one",
    "hub": "serve the embedded Docker Hub on 127.0.0.1 for trying it by hand",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `pytest-stages` command with `argv` and return its exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in DELEGATED:
        return _delegate(arguments[0], arguments[1:])
    parsed = _parser().parse_args(arguments)
    if parsed.command is None:
        _parser().print_help()
        return 2
    return parsed.run(parsed)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytest-stages",
        description=(
            "The 'build your own Docker' course. Grade your program with "
            "`pytest --stage N` in its folder."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    instructions = commands.add_parser(
        "instructions",
        help="list the stages, or show the instructions of stage N",
        description=(
            "Without N, list the stages of the course and of the installed stage "
            "packs. With N, print the instructions of stage N in Markdown."
        ),
    )
    instructions.add_argument("number", nargs="?", type=int, metavar="N")
    instructions.add_argument(
        "--lang",
        choices=LANGUAGES,
        help=(
            "language of the instructions (default: from LC_ALL, LC_MESSAGES or "
            "LANG, else English)"
        ),
    )
    instructions.set_defaults(run=_run_instructions)

    starter = commands.add_parser(
        "starter",
        help="create a starter project for your program in LANGUAGE",
        description=(
            "Create DIR with your_program.sh, a source file that parses "
            "`run IMAGE COMMAND [ARG...]`, and a README. DIR must not exist "
            "or must be empty."
        ),
    )
    starter.add_argument("language", metavar="LANGUAGE", choices=starters.LANGUAGES)
    starter.add_argument(
        "directory",
        nargs="?",
        metavar="DIR",
        help="the folder to create (default: my-docker-LANGUAGE)",
    )
    starter.set_defaults(run=_run_starter)

    # Listed for --help only: main() passes these to their own modules before
    # argparse parses the command line, so that their options and --help work.
    for name, text in DELEGATED_HELP.items():
        commands.add_parser(name, help=text, add_help=False)
    return parser


def _delegate(name: str, rest: list[str]) -> int:
    module_name, pass_name = DELEGATED[name]
    if importlib.util.find_spec(module_name) is None:
        print(
            f"pytest-stages {name} is not available: this installation has no "
            f"{module_name} module. Install a version of pytest-stages that has it.",
            file=sys.stderr,
        )
        return 2
    entry: Callable[[list[str]], int | None] = importlib.import_module(module_name).main
    status = entry([name, *rest] if pass_name else rest)
    return int(status or 0)


def _run_instructions(arguments: argparse.Namespace) -> int:
    try:
        stages = discover_stages()
    except pytest.UsageError as error:
        print(f"pytest-stages: {error}", file=sys.stderr)
        return 2
    if arguments.number is None:
        print(format_stage_list(stages))
        return 0
    found = [item for item in stages if item.stage.number == arguments.number]
    if not found:
        numbers = ", ".join(str(item.stage.number) for item in stages)
        print(
            f"pytest-stages: there is no stage {arguments.number}. "
            f"The stages are {numbers}.",
            file=sys.stderr,
        )
        return 2
    language = arguments.lang or locale_language(os.environ)
    text, note = instructions_text(found[0], language)
    if note:
        print(note, file=sys.stderr)
    if text is None:
        return 1
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def format_stage_list(stages: list[LoadedStage]) -> str:
    """Return the table of stages that `pytest-stages instructions` prints."""
    lines = []
    for item in stages:
        stage = item.stage
        line = f"{stage.number:>3}  {stage.slug:<16} {stage.title}"
        if item.source != "built-in":
            line += f"  [stage pack: {item.module.__name__.split('.')[0]}]"
        lines.append(line)
    lines.append("")
    lines.append(
        "Show one with `pytest-stages instructions N`; grade with `pytest --stage N`."
    )
    return "\n".join(lines)


def instructions_text(
    item: LoadedStage, language: str
) -> tuple[str | None, str | None]:
    """Return a stage's instructions in `language`, and a note when another was used.

    A stage without instructions in `language` falls back to English. The
    text is None when the stage has no instructions in either.
    """
    texts = item.stage.instructions
    if language in texts:
        return texts[language], None
    label = item.stage.label
    if DEFAULT_LANGUAGE in texts:
        note = f"note: {label} has no instructions in '{language}'; showing English."
        return texts[DEFAULT_LANGUAGE], note
    available = ", ".join(sorted(texts)) or "none"
    note = (
        f"pytest-stages: {label} has no instructions in '{language}' or English "
        f"(languages: {available}), because no instructions file was found next "
        f"to {item.path}. Reinstall the package that provides it ({item.source}); "
        "the course's own instructions are also in the repository's "
        "stages/instructions folder."
    )
    return None, note


def locale_language(environ: os._Environ[str] | dict[str, str]) -> str:
    """Return the course language that the locale selects: "ja" or "en".

    ``ja_JP.UTF-8`` and ``ja`` give Japanese; ``C``, ``POSIX``, an unset
    locale and every language the course lacks give English.
    """
    for variable in LOCALE_VARIABLES:
        value = environ.get(variable, "")
        if value:
            code = value.split(".")[0].split("@")[0].split("_")[0].lower()
            return code if code in LANGUAGES else DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def _run_starter(arguments: argparse.Namespace) -> int:
    target = arguments.directory or f"my-docker-{arguments.language}"
    try:
        created = starters.create(arguments.language, target)
    except starters.StarterError as error:
        print(f"pytest-stages: {error}", file=sys.stderr)
        return 1
    print(f"Created a {arguments.language} starter in {created}. Next:")
    print(f"  cd {target}")
    print("  pytest --stage 1")
    print("  pytest-stages instructions 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
