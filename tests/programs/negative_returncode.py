#!/usr/bin/env python3
# Mistake: exits with Popen's negative returncode when a signal kills the command.
import subprocess
import sys

process = subprocess.run(sys.argv[3:], check=False)
sys.exit(process.returncode)
