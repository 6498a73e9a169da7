#!/bin/sh
# Mistake: runs the command, then waits for something that never happens.
shift 2
"$@"
while :; do sleep 1; done
