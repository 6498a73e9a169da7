#!/bin/sh
# Prints without end on both streams.
yes "flood flood flood flood flood flood flood flood" >&2 &
exec yes "flood flood flood flood flood flood flood flood"
