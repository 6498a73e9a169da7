#!/bin/sh
# Runs the command but always exits 0.
shift 2
"$@"
exit 0
