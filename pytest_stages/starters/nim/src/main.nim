## A container runtime, written one stage at a time.
##
## Called as: your_program.sh run IMAGE COMMAND [ARG...]

import std/os

const usage = "usage: your_program.sh run IMAGE COMMAND [ARG...]"

proc main(): int =
  let args = commandLineParams()
  if args.len < 3 or args[0] != "run":
    stderr.writeLine(usage)
    return 2
  let image = args[1]
  let command = args[2]
  let arguments = args[3 .. ^1]

  # Stage 1: run `command` with `arguments` and wait for it to finish
  # (startProcess from std/osproc, with poParentStreams). Print your own
  # messages to stderr: stdout belongs to the command.
  stderr.writeLine("your_program: TODO: run \"" & command & "\" with " &
    $arguments.len & " argument(s) (image \"" & image & "\"). " &
    "Write stage 1 in src/main.nim; read its instructions with " &
    "`pytest-stages instructions 1`.")
  return 1

quit(main())
