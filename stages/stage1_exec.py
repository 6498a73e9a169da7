"""Stage 1: run the command the program is given."""

from pytest_stages import Stage, fail, load_instructions
from pytest_stages.checks import describe_stdout, exited_early_hint, require_finished

STAGE = Stage(
    number=1,
    slug="exec",
    title="Run a command",
    instructions=load_instructions(__file__, "exec"),
)


def _random_word(values) -> str:  # noqa: ANN001
    return (
        f"{values.choice(['apple', 'mango', 'kiwi', 'plum'])}-{values.randrange(10**6)}"
    )


def _expect_value_printed(result, value: str) -> None:  # noqa: ANN001
    require_finished(result)
    if value in result.stdout_text:
        return
    hint = (
        "Your program is called as `run IMAGE COMMAND [ARG...]`: run COMMAND "
        "with the arguments after it, and let it print to your program's stdout."
    )
    if value in result.stderr_text:
        hint = (
            "The value arrived on stderr. Give the command your program's stdout "
            "as its own stdout instead of redirecting it."
        )
    elif result.exit_status == 127 or "not found" in result.stderr_text.lower():
        hint = (
            "The command was not found. Run it by the path it is given. If your "
            "program already changes its root (stage 4), copy the command's "
            "binary into the new root first."
        )
    hint = exited_early_hint(result) or hint
    fail(
        "The command's output did not appear on stdout.",
        result=result,
        expected=f"stdout to contain {value!r}",
        actual=describe_stdout(result),
        hint=hint,
    )


def test_runs_the_command(program, image, explorer, values) -> None:
    """Runs the command and shows what it printed."""
    value = _random_word(values)

    result = program.run(image, [explorer, "echo", value])

    _expect_value_printed(result, value)


def test_passes_every_argument(program, image, explorer, values) -> None:
    """Passes every argument of the command, spaces included."""
    words = [_random_word(values) for _ in range(3)]
    spaced = f"{words[0]}  {words[1]}"

    result = program.run(image, [explorer, "echo", spaced, words[2]])

    require_finished(result)
    expected = f"{spaced} {words[2]}"
    if expected not in result.stdout_text:
        fail(
            "The command did not get its arguments as they were given.",
            result=result,
            expected=f"stdout to contain {expected!r}",
            actual=describe_stdout(result),
            hint=(
                "Pass the arguments as a list, one element each, and never join "
                "them into one string that a shell splits again."
            ),
        )


def test_runs_on_a_terminal(program, image, explorer, values) -> None:
    """Runs the command when stdout is a terminal, as `docker run -t` does."""
    value = _random_word(values)

    result = program.run_in_terminal(image, [explorer, "echo", value])

    _expect_value_printed(result, value)
