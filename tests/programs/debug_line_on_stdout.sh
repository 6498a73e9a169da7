#!/bin/sh
# Mistake: prints a debug line of its own on stdout before the command's output.
shift 2
echo "running: $*"
exec "$@"
