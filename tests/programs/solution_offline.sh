#!/bin/sh
# The reference solution in a new network namespace, so that its image pull fails at
# once and sends nothing off the machine.
exec unshare --net python3 -m solution "$@"
