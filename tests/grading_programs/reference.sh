#!/bin/sh
# The reference solution; the test replaces @REPOSITORY@ with the checkout's path.
PYTHONPATH="@REPOSITORY@${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
exec python3 -m solution "$@"
