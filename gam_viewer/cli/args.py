"""Argument parsing shared by every sub-command: errors as one line, value checks that name the option.

argparse prints a usage block and exits on a bad option; :class:`Parser` raises
:class:`UsageError` instead, which ``gam_viewer.app`` shows as one line
(``gam-viewer: error: export: argument --every: ...``) with exit status 2.
"""

import argparse
import math

__all__ = ["Parser", "UsageError", "positive_int", "finite_float", "unit_float", "positive_float", "on_off"]


class UsageError(ValueError):
    """A bad command line (unknown option, bad value); one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError` instead of exiting."""

    def error(self, message: str):
        sub = self.prog[len("gam-viewer"):].strip() if self.prog.startswith("gam-viewer") else self.prog
        where = f"{sub}: " if sub else ""
        raise UsageError(f"{where}{message} (see {self.prog} --help)")


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def finite_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def unit_float(text: str) -> float:
    v = finite_float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return v


def positive_float(text: str) -> float:
    v = finite_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


def on_off(value):
    """``--switch on|off`` -> True / False; not given (None) -> None (the documented default)."""
    return None if value is None else value == "on"
