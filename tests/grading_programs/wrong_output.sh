#!/bin/sh
# Prints something other than the command's output.
echo "hello from a program that ignores its command"
