"""A stage pack for pytest-stages: stage 7 gives the command its own host name."""
