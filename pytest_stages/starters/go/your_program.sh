#!/bin/sh
# Build the program, then run it with every argument given to this script.
# The build writes only to stderr, because stdout belongs to the command your
# program runs. It works offline: GOPROXY=off, and the build cache is kept in
# .build/ so that a read-only home folder does not matter.
# pytest-stages runs this file as: ./your_program.sh run IMAGE COMMAND [ARG...]
set -e
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/.build"
(
    cd "$here"
    GOCACHE="$here/.build/go-cache" GOPROXY=off go build -o .build/mydocker ./app
) >&2
exec "$here/.build/mydocker" "$@"
