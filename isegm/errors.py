"""User errors and the one top-level handler every command-line tool uses.

A *user error* is bad input a user can fix: a missing or unreadable file, a value out of range, an
unknown config key. Library code raises :class:`UserError` (or a subclass) with a one-line message
that names the offending file, path or value and says what was expected. Every CLI wraps its
``main`` in :func:`run_cli`, which prints ``error: <message>`` on stderr and exits with status 2;
``--debug`` on the command line shows the full traceback instead.

Argument types for ``argparse`` (:func:`int_range`, :func:`float_range`, :func:`existing_file`,
:func:`existing_dir`) check values at parse time, so that a bad flag is refused before any work starts.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

EXIT_USER_ERROR = 2


class UserError(Exception):
    """Bad input that the user can fix; its message is one line and names the offending thing."""


def closest(name: str, known: Iterable[str]) -> str:
    """``"; did you mean X?"`` for the known name closest to ``name``, or ``""`` when none is close."""
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if not match:
        match = difflib.get_close_matches(name.upper(), [k.upper() for k in known], n=1, cutoff=0.6)
        if match:
            match = [k for k in known if k.upper() == match[0]][:1]
    return f"; did you mean {match[0]}?" if match else ""


class OneLineArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors raise :class:`UserError` (one line through :func:`run_cli`)
    instead of printing the usage block and exiting."""

    def error(self, message):
        raise UserError(message)


def run_cli(main: Callable[[Optional[Sequence[str]]], Optional[int]], argv: Optional[Sequence[str]] = None) -> int:
    """Run ``main(argv)`` and turn user errors into one line on stderr and exit status 2.

    Caught: :class:`UserError`, ``FileNotFoundError``, ``FileExistsError``, ``IsADirectoryError``,
    ``NotADirectoryError`` and ``PermissionError`` (their message names the path) and
    ``KeyboardInterrupt`` (status 130). Anything else is a bug and keeps its traceback. With
    ``--debug`` in ``argv`` the handler re-raises, so the traceback of a user error is shown too
    (``--debug`` is removed from ``argv`` before ``main`` sees it).

    Returns:
        The exit status (``main``'s return value, 0 for None). Use as ``sys.exit(run_cli(main))``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        status = main(argv)
    except (UserError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
            PermissionError) as exc:
        if debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
            message = f"{message}: {exc.filename}"
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        if debug:
            raise
        print("error: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


# ---------------------------------------------------------------------- argparse value types
def _number(kind, text: str, what: str):
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def int_range(lo: Optional[int] = None, hi: Optional[int] = None) -> Callable[[str], int]:
    """argparse type: an integer in [lo, hi] (either bound may be None = unbounded)."""
    def parse(text: str) -> int:
        value = _number(int, text, "an integer")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is out of range, expected {_range_text(lo, hi)}")
        return value
    parse.__name__ = "int"
    return parse


def float_range(lo: Optional[float] = None, hi: Optional[float] = None, *, lo_open: bool = False,
                hi_open: bool = False) -> Callable[[str], float]:
    """argparse type: a finite float in the interval from lo to hi (open ends with ``lo_open`` / ``hi_open``)."""
    def parse(text: str) -> float:
        value = _number(float, text, "a number")
        bad = value != value or value in (float("inf"), float("-inf"))
        if lo is not None:
            bad |= value <= lo if lo_open else value < lo
        if hi is not None:
            bad |= value >= hi if hi_open else value > hi
        if bad:
            raise argparse.ArgumentTypeError(
                f"{text} is out of range, expected {_range_text(lo, hi, lo_open, hi_open)}")
        return value
    parse.__name__ = "float"
    return parse


def _range_text(lo, hi, lo_open=False, hi_open=False) -> str:
    if lo is not None and hi is not None:
        return f"a value in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f"a value {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f"a value {'<' if hi_open else '<='} {hi}"
    return "a number"


def existing_file(text: str) -> Path:
    """argparse type: a path to an existing regular file."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: not a file")
    return path


def existing_dir(text: str) -> Path:
    """argparse type: a path to an existing folder."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    return path
