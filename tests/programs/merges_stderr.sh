#!/bin/sh
# Mistake: sends the command's stderr to stdout (2>&1).
shift 2
exec "$@" 2>&1
