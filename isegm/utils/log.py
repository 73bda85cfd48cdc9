"""Logging helpers. Nothing is configured at import: entry points call :func:`setup_logging`."""
from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Configure the ``isegm`` logger to print to stderr and, if given, append to ``log_file``.

    Safe to call more than once (handlers are replaced, not duplicated). Returns the logger.
    """
    logger = logging.getLogger("isegm")
    logger.setLevel(level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(formatter)
    logger.addHandler(stream)
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(formatter)
        logger.addHandler(fh)
    logger.propagate = False
    return logger


class TqdmToLogger(io.StringIO):
    """File-like object that forwards tqdm's progress lines to a logger (one line per update)."""

    def __init__(self, logger: logging.Logger, level: int = logging.INFO, mininterval: float = 5.0):
        super().__init__()
        self.logger = logger
        self.level = level
        self.mininterval = mininterval
        self._buf = ""

    def write(self, buf: str) -> int:
        self._buf = buf.strip("\r\n\t ")
        return len(buf)

    def flush(self) -> None:
        if self._buf:
            self.logger.log(self.level, self._buf)
            self._buf = ""
