#!/bin/sh
# Build the program, then run it with every argument given to this script.
# Cargo writes only to stderr, because stdout belongs to the command your
# program runs. The build is offline: the starter uses no crates.
# pytest-stages runs this file as: ./your_program.sh run IMAGE COMMAND [ARG...]
set -e
here=$(cd "$(dirname "$0")" && pwd)
(cd "$here" && cargo build --quiet --release --offline) >&2
exec "$here/target/release/mydocker" "$@"
