#!/bin/sh
# Runs the command but sends its stderr to stdout.
shift 2
exec "$@" 2>&1
