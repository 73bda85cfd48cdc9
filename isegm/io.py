"""Files in and out, in one place: atomic writes, plain data for json, reading images and masks.

Writing: every file the framework produces (checkpoints, results json, per-click arrays, annotation
outputs, autosaves) goes through :func:`atomic_write`: the data is written to a temporary name in
the target folder, flushed and ``fsync``-ed, then renamed over the target with ``os.replace``.
A crash or a kill at any moment leaves either the old file or the new one, never half of one.

Reading: :func:`read_image` and :func:`read_mask` decode with OpenCV and state their conversion
rules once; the object-mask rules are :func:`binarise_mask`, applied to files by
:func:`read_binary_mask` and to bytes (an upload) by :func:`decode_binary_mask`. The readers accept a
``notes`` list; every conversion that changes the data (alpha dropped, 16 bits scaled to 8, a grey
image expanded, a colour mask reduced) appends a one-line note naming the file, so that callers
can count and report converted inputs instead of converting silently.
"""
from __future__ import annotations

import hashlib
import io as _io
import json
import math
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import cv2
import numpy as np

from isegm.errors import UserError

__all__ = ["file_sha256", "atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "dumps_json",
           "to_plain", "read_image", "read_mask", "read_binary_mask", "decode_binary_mask", "binarise_mask",
           "load_numpy_pickle", "NUMPY_PICKLE_GLOBALS"]


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of the file at ``path`` (read in ``chunk``-byte blocks).

    Raises:
        OSError: the file cannot be read (FileNotFoundError for a missing one).
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------- atomic writing
def atomic_write(path, writer: Callable[[Any], None], *, overwrite: bool = True, make_parents: bool = False) -> Path:
    """Write a file atomically: ``writer(f)`` fills a temporary file, which is fsync-ed and renamed.

    Args:
        path: the target file.
        writer: called with a binary file object opened for writing (e.g. ``lambda f: torch.save(obj, f)``).
        overwrite: replace an existing file (default); False raises ``FileExistsError`` instead.
        make_parents: create missing parent folders; otherwise a missing folder raises.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        FileNotFoundError: the target folder does not exist (and ``make_parents`` is False).
        FileExistsError: the file exists and ``overwrite`` is False.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; refusing to overwrite it (pass --overwrite to replace it)")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path, data: bytes, *, overwrite: bool = True, make_parents: bool = False) -> Path:
    """:func:`atomic_write` of ``data`` (bytes)."""
    return atomic_write(path, lambda f: f.write(data), overwrite=overwrite, make_parents=make_parents)


def atomic_write_text(path, text: str, *, overwrite: bool = True, make_parents: bool = False) -> Path:
    """:func:`atomic_write` of ``text`` encoded as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite, make_parents=make_parents)


# ---------------------------------------------------------------------- restricted unpickling
# The only globals a pickle of plain containers and NumPy arrays needs (NumPy 1.x and 2.x module names;
# ``_frombuffer`` is how NumPy pickles arrays with protocol 5, ``_codecs.encode`` how protocol 2 stores bytes;
# torch's weights_only unpickler admits it too).
NUMPY_PICKLE_GLOBALS = frozenset({
    ("_codecs", "encode"),
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"),
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
})


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in NUMPY_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only containers and numpy arrays are allowed")


def load_numpy_pickle(data: bytes):
    """Unpickle ``data`` admitting only plain containers, str/numbers and NumPy arrays/dtypes.

    A hostile file cannot run code: any other global (a class, a function) is refused.

    Raises:
        pickle.UnpicklingError: the pickle names a refused global or is malformed.
        EOFError, ValueError, TypeError, AttributeError: truncated or otherwise broken data (as pickle
            raises them); callers turn these into a message naming their file.
    """
    return _RestrictedUnpickler(_io.BytesIO(data)).load()


_NUMBER_LIST = re.compile(r"\[\s+([-+0-9.eE,\s]+?)\s+\]")


def dumps_json(obj, indent: int = 1) -> str:
    """Strict JSON text of :func:`to_plain` ``(obj)`` (NaN/inf -> null), with lists of numbers on one line."""
    text = json.dumps(to_plain(obj), indent=indent, ensure_ascii=False, allow_nan=False)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def atomic_write_json(path, obj, *, overwrite: bool = True, make_parents: bool = False) -> Path:
    """:func:`atomic_write_text` of :func:`dumps_json` ``(obj)``."""
    return atomic_write_text(path, dumps_json(obj), overwrite=overwrite, make_parents=make_parents)


def to_plain(value):
    """Plain data for json: dicts (str keys), lists, str, int, float, bool, None.

    numpy scalars and arrays become Python numbers and lists, tuples become lists, ``Path`` becomes
    str, dataclasses become dicts, non-finite floats become None.

    Raises:
        TypeError: a value of another type (named in the message).
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses
        return to_plain(dataclasses.asdict(value))
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        return to_plain(value.item())  # a 0-d torch tensor
    raise TypeError(f"cannot convert {type(value).__name__} value {value!r:.60} to plain json data")


# ---------------------------------------------------------------------- reading
def _decode(path, flags: int, what: str) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} file not found: {path}")
    if not path.is_file():
        raise IsADirectoryError(f"{what} path is not a file: {path}")
    # np.fromfile + imdecode also handles non-ASCII paths on every platform
    data = np.fromfile(str(path), dtype=np.uint8)
    decoded = cv2.imdecode(data, flags) if data.size else None
    if decoded is None:
        raise ValueError(f"cannot read {what} {path}: empty file or a format OpenCV cannot decode")
    return decoded


def read_image(path, notes: Optional[list] = None) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB, exactly as RITM does (OpenCV ``IMREAD_COLOR``, BGR -> RGB).

    ``IMREAD_COLOR`` applies the JPEG EXIF orientation, expands grey to RGB, drops alpha (not
    composited) and scales 16-bit images to 8 bits (value >> 8). When ``notes`` is given, a file
    that could carry alpha or 16 bits (not JPEG) is also decoded unchanged and each such conversion
    appends a note naming the file.

    Raises:
        FileNotFoundError: no such file. ValueError: the file cannot be decoded as an image.
    """
    image = cv2.cvtColor(_decode(path, cv2.IMREAD_COLOR, "image"), cv2.COLOR_BGR2RGB)
    if notes is not None and Path(path).suffix.lower() not in (".jpg", ".jpeg"):
        raw = _decode(path, cv2.IMREAD_UNCHANGED, "image")
        what = []
        if raw.dtype != np.uint8:
            what.append(f"{raw.dtype} pixels scaled to 8 bits")
        if raw.ndim == 3 and raw.shape[2] == 4:
            what.append("alpha channel dropped")
        if what:
            notes.append(f"{path}: {', '.join(what)}")
    return image


def read_mask(path) -> np.ndarray:
    """Read a mask file unchanged: (H, W) or (H, W, C), uint8 or uint16 (OpenCV IMREAD_UNCHANGED, BGR order).

    Raises:
        FileNotFoundError: no such file. ValueError: the file cannot be decoded.
    """
    return _decode(path, cv2.IMREAD_UNCHANGED, "mask")


def read_binary_mask(path, notes: Optional[list] = None) -> np.ndarray:
    """Read an object mask file as (H, W) bool, with the rules of :func:`binarise_mask`.

    Raises:
        FileNotFoundError: no such file. ValueError: the file cannot be decoded.
    """
    return binarise_mask(read_mask(path), path, notes)


def decode_binary_mask(data: bytes, what: str = "mask", notes: Optional[list] = None) -> np.ndarray:
    """Decode the bytes of a mask file (PNG, TIFF, BMP, JPEG, ...: what OpenCV reads) as (H, W) bool, with the
    rules of :func:`binarise_mask` (the same as :func:`read_binary_mask` gives for that file).

    Args:
        data: the file's bytes. what: names the data in messages and notes (e.g. "uploaded external mask").
    Raises:
        UserError: empty bytes, or bytes OpenCV cannot decode as an image (the message names ``what``).
    """
    buffer = np.frombuffer(bytes(data), np.uint8)
    mask = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
    if mask is None:
        raise UserError(f"cannot decode {what} ({buffer.size} bytes): empty or not an image format OpenCV reads, "
                        "expected e.g. a PNG mask")
    return binarise_mask(mask, what, notes)


def binarise_mask(mask: np.ndarray, where, notes: Optional[list] = None) -> np.ndarray:
    """The foreground of a decoded mask (OpenCV ``IMREAD_UNCHANGED`` layout) as (H, W) bool.

    Rules: colour masks (palette PNGs decode as colour) use their brightest colour channel (alpha ignored);
    8-bit masks whose maximum is 1 are 0/1 masks (foreground > 0), other 8-bit masks are 0/255 (foreground
    > 127, so JPEG noise is ignored); 16-bit masks: foreground > 0. A colour mask and a 16-bit mask each
    append a note naming ``where`` (the file or data) to ``notes``.

    Args:
        mask: (H, W) or (H, W, C) uint8 / uint16 array.
    """
    what = []
    if mask.ndim == 3:
        mask = mask[:, :, :3].max(axis=2) if mask.shape[2] >= 3 else mask[:, :, 0]
        what.append("colour mask reduced to its brightest channel")
    if mask.dtype == np.uint8:
        binary = mask > 127 if mask.max() > 1 else mask > 0
    else:
        binary = mask > 0
        what.append(f"{mask.dtype} mask binarised at > 0")
    if what and notes is not None:
        notes.append(f"{where}: {', '.join(what)}")
    return binary
