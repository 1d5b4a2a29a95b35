"""The `robust-canvas` command line: one module per command group, plus the task inputs and outputs they share."""
from .main import main

__all__ = ["main"]
