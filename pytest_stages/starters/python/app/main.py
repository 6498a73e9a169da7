"""A container runtime, written one stage at a time.

Called as: your_program.sh run IMAGE COMMAND [ARG...]
"""

import sys

USAGE = "usage: your_program.sh run IMAGE COMMAND [ARG...]"


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[1] != "run":
        print(USAGE, file=sys.stderr)
        return 2
    image, command, arguments = argv[2], argv[3], argv[4:]

    # Stage 1: run `command` with `arguments` and wait for it to finish
    # (subprocess.run, or os.fork, os.execvp and os.waitpid).
    # Print your own messages to stderr: stdout belongs to the command.
    print(
        f"your_program: TODO: run {command!r} with {len(arguments)} argument(s) "
        f"(image {image!r}). Write stage 1 in app/main.py; read its instructions "
        "with `pytest-stages instructions 1`.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
