"""Reading PyTorch ``.pth`` files safely: one reader for checkpoints and pretrained weights alike.

A low floor of :mod:`isegm.model`: it imports no model code, so the model modules (e.g. :mod:`isegm.model.unet`,
reading ImageNet weights) and :mod:`isegm.model.checkpoint` (reading checkpoints) both use it without an
import circle.
"""
from __future__ import annotations

import os
import pickle

import torch

from isegm.errors import UserError

__all__ = ["CheckpointError", "read_torch_file"]


class CheckpointError(UserError, ValueError):
    """A file that cannot be loaded as an isegm/RITM checkpoint (a UserError, also a ValueError)."""


def read_torch_file(source) -> object:
    """``torch.load(weights_only=True)`` of a ``.pth`` file on the CPU, with one-line errors naming the file.

    Only plain data and tensors are unpickled: a file naming other Python objects is refused, so reading it
    can never run code.

    Raises:
        IsADirectoryError / FileNotFoundError: ``source`` is a folder / does not exist.
        CheckpointError: empty, not a ``torch.save`` file (e.g. text), truncated or damaged, or holding Python
            objects beyond plain data and tensors.
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        raise IsADirectoryError(f"checkpoint {source} is a folder; expected a .pth file")
    if not os.path.isfile(source):
        raise FileNotFoundError(f"checkpoint not found: {source}")
    import zipfile

    size = os.path.getsize(source)
    with open(source, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04":
        if head[:1] == b"\x80":  # legacy (pre-1.6) pickle format: let torch read it
            pass
        elif size == 0:
            raise CheckpointError(f"checkpoint {source}: empty file; not a PyTorch checkpoint (torch.save zip)")
        else:
            raise CheckpointError(f"checkpoint {source}: not a PyTorch checkpoint (torch.save zip): "
                            f"starts with {head!r}")
    elif not zipfile.is_zipfile(source):
        raise CheckpointError(f"checkpoint {source}: truncated or damaged PyTorch checkpoint "
                        f"({size} bytes; the zip directory at the end is missing)")
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {source}: refused to unpickle (it holds Python objects beyond plain "
                        f"data and tensors, which could run code): {first}") from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, IndexError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {source}: truncated or damaged PyTorch checkpoint: {first}") from err
