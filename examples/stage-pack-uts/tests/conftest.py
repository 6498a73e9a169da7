"""Shared setup of the stage pack's tests."""

pytest_plugins = ["pytester"]
