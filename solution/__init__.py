"""The reference solution: a small container runtime, run as `python3 -m solution`."""
