#!/bin/sh
# A correct runtime for stages 1 to 3: runs the command in place of itself.
[ "$1" = run ] && [ $# -ge 3 ] || { echo "usage: $0 run IMAGE COMMAND [ARG...]" >&2; exit 2; }
shift 2
exec "$@"
