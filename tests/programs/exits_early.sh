#!/bin/sh
# Mistake: starts the command in the background and exits without waiting for it.
shift 2
"$@" &
# A moment's pause, so that only commands slower than that lose output.
sleep 0.3
