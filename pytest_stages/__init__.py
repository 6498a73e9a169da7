"""pytest-stages: a "build your own Docker" course and the pytest plugin that grades it."""

from pytest_stages.failures import CheckFailed, fail, quote_output
from pytest_stages.runner import ProgramRunner, RunResult
from pytest_stages.stage import Stage, load_instructions

__version__ = "0.1.0"

__all__ = [
    "CheckFailed",
    "ProgramRunner",
    "RunResult",
    "Stage",
    "__version__",
    "fail",
    "load_instructions",
    "quote_output",
]
