"""Stage 5: run the command in a new PID namespace, where it is PID 1."""

import subprocess

from pytest_stages import Stage, fail, load_instructions
from pytest_stages.checks import describe_stdout, require_finished

STAGE = Stage(
    number=5,
    slug="pid-namespace",
    title="Isolate processes with a PID namespace",
    instructions=load_instructions(__file__, "pid-namespace"),
)

WRONG_PROCESS_HINT = (
    "The command is not the first process of its PID namespace. unshare("
    "CLONE_NEWPID) does not move the caller: the first child forked after it "
    "becomes PID 1. Make the command itself that child, with no shell or "
    "helper process in between (or exec the command from PID 1)."
)
NO_NAMESPACE_HINT = (
    "The command runs in the same PID namespace as the host. Create a new one: "
    "clone with CLONE_NEWPID, or unshare(CLONE_NEWPID) and then fork."
)
PERMISSION_HINT = (
    "Creating a PID namespace needs CAP_SYS_ADMIN. The harness runs your "
    "program as root in its session container (see the header line 'session "
    "container'); 'operation not permitted' means the call lost those powers."
)


def test_command_is_pid_1(program, image, explorer) -> None:
    """Makes the command PID 1 of its namespace, on every run."""
    for _ in range(3):
        result = program.run(image, [explorer, "mypid"])

        require_finished(result)
        if result.stdout_text.strip() != "1":
            got = result.stdout_text.strip()
            hint = NO_NAMESPACE_HINT
            if got == "2":
                hint = WRONG_PROCESS_HINT
            elif "not permitted" in result.stderr_text.lower():
                hint = PERMISSION_HINT
            fail(
                "The command is not PID 1 in its own PID namespace.",
                result=result,
                expected="`mypid` to print 1",
                actual=describe_stdout(result),
                hint=hint,
            )


def test_outside_processes_are_invisible(program, image, explorer) -> None:
    """Hides the processes outside the command's namespace."""
    outsider = subprocess.Popen([explorer, "sleep", "60"])
    try:
        result = program.run(image, [explorer, "pid_exists", str(outsider.pid)])
    finally:
        outsider.kill()
        outsider.wait()

    require_finished(result)
    if "no such process" not in result.stdout_text:
        fail(
            "The command can see a process outside its PID namespace.",
            result=result,
            expected=f"`pid_exists {outsider.pid}` to print 'no such process'",
            actual=describe_stdout(result),
            hint=NO_NAMESPACE_HINT,
        )
