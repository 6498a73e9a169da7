#!/bin/sh
# Never ends, and leaves a process in a session of its own that must be killed too.
setsid sleep 987651 &
exec sleep 987652
