"""Stage 7: run the command in a new UTS namespace, with a host name of its own."""

import socket

from pytest_stages import Stage, fail, load_instructions
from pytest_stages.checks import describe_stdout, require_finished

STAGE = Stage(
    number=7,
    slug="hostname",
    title="Give the container its own host name",
    instructions=load_instructions(__file__, "hostname"),
)

IMAGE = "alpine"
EXPLORER = "/usr/local/bin/docker-explorer"

NO_NAMESPACE_HINT = (
    "The command shares the host's UTS namespace, so its sethostname() renamed "
    "the host. Create a new UTS namespace for the command: add CLONE_NEWUTS to "
    "the flags of the unshare() or clone() that makes its PID namespace."
)
PERMISSION_HINT = (
    "sethostname() needs CAP_SYS_ADMIN in the command's UTS namespace. The "
    "grader runs your program as root in its session container; 'operation not "
    "permitted' means the command lost those powers, for example in a user "
    "namespace that does not own its UTS namespace."
)


def _set_and_print(name: str) -> list[str]:
    """Return a command that sets the host name to `name`, then prints it."""
    script = f"{EXPLORER} sethostname {name} && {EXPLORER} hostname"
    return ["/bin/sh", "-c", script]


def _random_name(values) -> str:  # noqa: ANN001
    return f"stages-{values.randrange(16**8):08x}"


def test_host_keeps_its_hostname(hub, program, values) -> None:
    """Keeps the host's name when the command sets its own."""
    name = _random_name(values)
    before = socket.gethostname()

    result = program.run(IMAGE, _set_and_print(name))

    after = socket.gethostname()
    if after != before:
        # The grader runs in the session container's own UTS namespace, so
        # only that namespace was renamed; restore it for the checks after.
        socket.sethostname(before)
        fail(
            "Setting the host name inside the container renamed the host.",
            result=result,
            expected=f"the host's name to stay {before!r}",
            actual=f"the host's name became {after!r}",
            hint=NO_NAMESPACE_HINT,
        )
    require_finished(result)


def test_command_sees_its_own_hostname(hub, program, values) -> None:
    """Lets the command set a host name and read it back."""
    name = _random_name(values)

    result = program.run(IMAGE, _set_and_print(name))

    require_finished(result)
    if result.stdout_text == f"{name}\n":
        return
    stderr = result.stderr_text.lower()
    fail(
        "The command could not set its own host name and read it back.",
        result=result,
        expected=f"stdout {name + chr(10)!r} and exit status 0",
        actual=f"exit status {result.exit_status}; {describe_stdout(result)}",
        hint=PERMISSION_HINT if "not permitted" in stderr else None,
    )
