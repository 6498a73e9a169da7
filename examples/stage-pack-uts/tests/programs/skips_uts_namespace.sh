#!/bin/sh
# The reference solution without its UTS namespace: the command shares the
# host name of the process that grades it, so stage 7 must reject it.
exec python3 -c '
import sys

import solution.runtime as runtime

runtime.NAMESPACE_FLAGS = runtime.CLONE_NEWPID
sys.exit(runtime.main(sys.argv[1:]))
' "$@"
