"""Stage 4: run the command inside a new root directory that hides the host's files."""

import os
import tempfile

from pytest_stages import Stage, fail, load_instructions
from pytest_stages.checks import describe_stdout, require_finished

STAGE = Stage(
    number=4,
    slug="chroot",
    title="Isolate the filesystem with chroot",
    instructions=load_instructions(__file__, "chroot"),
)

NOT_FOUND_HINT = (
    "The command was not found inside the new root. After chroot, only files "
    "inside the new root exist: copy the command's binary into it, at the same "
    "path, before you chroot."
)
DEV_NULL_HINT = (
    "The command or your runtime needs /dev/null, which the new root lacks. "
    "Create /dev/null inside the new root (bind-mount the host's), or give the "
    "command your own stdin instead of /dev/null."
)
PERMISSION_HINT = (
    "chroot needs root powers (CAP_SYS_CHROOT). The harness runs your program as "
    "root inside its session container (see the header line 'session container'), "
    "so 'operation not permitted' means the call was made in a way that drops "
    "them, such as after switching user or from a user namespace you created."
)


def _diagnose(result) -> str | None:  # noqa: ANN001
    """Return the hint for a command that failed to start inside the new root."""
    stderr = result.stderr_text.lower()
    if "/dev/null" in stderr:
        return DEV_NULL_HINT
    if "operation not permitted" in stderr or "permission denied" in stderr:
        return PERMISSION_HINT
    if (
        result.exit_status in (126, 127)
        or "no such file" in stderr
        or "not found" in stderr
    ):
        return NOT_FOUND_HINT
    return None


def _expect_output(result, stream: str, value: str) -> None:  # noqa: ANN001
    require_finished(result)
    text = result.stdout_text if stream == "stdout" else result.stderr_text
    if value not in text:
        fail(
            f"The command's {stream} did not arrive when it ran in the new root.",
            result=result,
            expected=f"{value!r} on {stream}",
            actual=describe_stdout(result),
            hint=_diagnose(result),
        )


def test_host_directory_is_hidden(program, image, explorer, values) -> None:
    """Hides a directory the harness made on the host."""
    folder = tempfile.mkdtemp(prefix=f"stages-{values.randrange(10**8)}-", dir="/tmp")

    try:
        result = program.run(image, [explorer, "ls", folder])
    finally:
        os.rmdir(folder)

    require_finished(result)
    if result.exit_status == 2 and "No such file or directory" in result.stdout_text:
        return
    hint = _diagnose(result)
    summary = "The command could see a directory of the host."
    if hint is not None:
        summary = "The command did not run in the new root."
    if result.exit_status == 0:
        hint = (
            "The command still sees the host's files. Make a new, empty root "
            "directory, copy the command into it, and chroot into it before "
            "running the command; chrooting into a folder that holds the host's "
            "files hides nothing."
        )
    fail(
        summary,
        result=result,
        expected=f"`ls {folder}` to print 'No such file or directory' and exit 2",
        actual=f"exit status {result.exit_status}; {describe_stdout(result)}",
        hint=hint,
    )


def test_host_file_is_unreadable(program, image, explorer, values) -> None:
    """Keeps a host file out of reach of the command."""
    secret = f"secret-{values.randrange(16**10):010x}"
    with tempfile.NamedTemporaryFile("w", dir="/tmp", prefix="stages-") as file:
        file.write(secret)
        file.flush()

        result = program.run(image, [explorer, "cat", file.name])

    require_finished(result)
    if secret in result.stdout_text:
        fail(
            "The command read a file of the host.",
            result=result,
            expected=f"`cat {file.name}` to fail: the file is outside the new root",
            actual=describe_stdout(result),
            hint="Run the command inside a new root directory with chroot.",
        )


def test_created_file_stays_inside(program, image, explorer, values) -> None:
    """Keeps a file the command creates inside the new root."""
    name = f"/stages-{values.randrange(16**10):010x}"

    result = program.run(image, [explorer, "touch", name])

    require_finished(result)
    if os.path.exists(name):
        os.remove(name)
        fail(
            "A file the command created appeared on the host.",
            result=result,
            expected=f"{name} to be created inside the new root only",
            actual=f"{name} exists on the host",
            hint="Run the command inside a new root directory with chroot.",
        )
    if result.exit_status != 0:
        fail(
            "The command could not create a file in its new root.",
            result=result,
            expected=f"`touch {name}` to succeed (exit status 0)",
            actual=f"exit status {result.exit_status}; {describe_stdout(result)}",
            hint=_diagnose(result)
            or "The new root must be a directory the command can write to.",
        )


def test_earlier_stages_still_hold(program, image, explorer, values) -> None:
    """Keeps stdout, stderr and exit codes working inside the new root."""
    value = f"inside-{values.randrange(10**8)}"
    code = values.randrange(1, 256)

    out = program.run(image, [explorer, "echo", value])
    _expect_output(out, "stdout", value)
    err = program.run(image, [explorer, "echo_stderr", value])
    _expect_output(err, "stderr", value)
    status = program.run(image, [explorer, "exit", str(code)])

    require_finished(status)
    if status.exit_status != code:
        fail(
            "The exit code got lost inside the new root.",
            result=status,
            expected=f"exit status {code}",
            actual=f"exit status {status.exit_status}; {describe_stdout(status)}",
            hint=_diagnose(status),
        )
