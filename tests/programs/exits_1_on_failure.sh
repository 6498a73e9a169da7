#!/bin/sh
# Mistake: exits 1 whenever the command fails, whatever its exit code was.
shift 2
"$@" || exit 1
