#!/bin/sh
# Run the program with every argument given to this script.
# pytest-stages runs this file as: ./your_program.sh run IMAGE COMMAND [ARG...]
set -e
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/app/main.py" "$@"
