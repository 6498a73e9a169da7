#!/bin/sh
# Mistake: joins the command and its arguments into one string for a shell.
shift 2
exec sh -c "$*"
