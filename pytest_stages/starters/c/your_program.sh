#!/bin/sh
# Build the program when a source file changed, then run it with every
# argument given to this script. The compiler writes only to stderr, because
# stdout belongs to the command your program runs.
# pytest-stages runs this file as: ./your_program.sh run IMAGE COMMAND [ARG...]
set -e
here=$(cd "$(dirname "$0")" && pwd)
binary="$here/.build/mydocker"
if [ ! -x "$binary" ] || [ -n "$(find "$here/src" -newer "$binary")" ]; then
    mkdir -p "$here/.build"
    ${CC:-cc} -Wall -Wextra -O2 -o "$binary" "$here"/src/*.c >&2
fi
exec "$binary" "$@"
