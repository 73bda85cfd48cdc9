"""Path safety for the web annotation server: which image files may be read and which files may be written.

Rules (each one is tested in ``tests/web/test_web_api.py``):

- only regular files directly inside ``--images`` whose suffix is an image type are listed or read; a name
  is a bare file name: an empty name, ``.`` / ``..``, a path separator (``/`` or ``\\``), a NUL byte, a drive
  or absolute path and a hidden name (starting with ``.``) are refused before the file system is touched;
- a listed name that is a symbolic link must resolve to a file inside ``--images`` (a link pointing out of
  the folder is refused and never listed);
- outputs and the autosave go to ``--out`` only, under the stem of a validated image name (see
  :func:`isegm.annotation.output_paths`); an existing output that is a symbolic link is refused, so a link
  planted in ``--out`` cannot redirect a write or a read elsewhere.

The errors are :class:`PathRefused` (a subclass of ``ValueError`` with an HTTP status) whose one-line message
names the value and what was expected.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

__all__ = ["IMAGE_SUFFIXES", "PathRefused", "ImageFolder", "check_output_paths"]


class PathRefused(ValueError):
    """A name or path the server will not read or write.

    Attributes:
        status: HTTP status to answer with (400 malformed name, 403 outside the folder, 404 not listed).
    """

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


class ImageFolder:
    """The images a server may show: regular image files directly inside one folder.

    Args:
        folder: the ``--images`` folder (must exist).
    Raises:
        NotADirectoryError: ``folder`` is not an existing folder.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise NotADirectoryError(f"--images {self.folder}: no such folder")
        self.root = self.folder.resolve()

    def names(self) -> List[str]:
        """Sorted names of the images that :meth:`resolve` accepts (links out of the folder are left out)."""
        out = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                try:
                    self.resolve(entry.name)
                except PathRefused:
                    continue
                out.append(entry.name)
        return sorted(out)

    @staticmethod
    def check_name(name) -> str:
        """The name itself, when it is a bare, visible file name with an image suffix.

        Raises:
            PathRefused (400): not a string, empty, ``.``/``..``, a separator, NUL, absolute, hidden, or not an
                image suffix (the message names the value).
        """
        if not isinstance(name, str) or not name:
            raise PathRefused(f"image name must be a non-empty file name, got {name!r:.80}")
        if len(name) > 255:
            raise PathRefused(f"image name is {len(name)} characters long, at most 255 allowed")
        if name in (".", "..") or "/" in name or "\\" in name or "\0" in name or os.path.isabs(name) \
                or (len(name) > 1 and name[1] == ":"):
            raise PathRefused(f"refused image name {name!r:.80}: a bare file name inside --images is expected, "
                              "not a path")
        if name.startswith("."):
            raise PathRefused(f"refused image name {name!r:.80}: hidden files are not served")
        if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
            raise PathRefused(f"refused image name {name!r:.80}: not an image type ({', '.join(IMAGE_SUFFIXES)})",
                              status=404)
        return name

    def resolve(self, name) -> Path:
        """Path of image ``name`` inside the folder (links followed, the target must stay inside).

        Raises:
            PathRefused: 400 malformed name (see :meth:`check_name`); 404 no such image file; 403 a link that
                leads out of the folder.
        """
        name = self.check_name(name)
        path = self.root / name
        if not os.path.lexists(path):
            raise PathRefused(f"no image {name!r} in --images {self.folder}", status=404)
        real = path.resolve()
        if not _inside(real, self.root):
            raise PathRefused(f"refused image {name!r}: it is a link to {real}, outside --images {self.folder}",
                              status=403)
        if not real.is_file():
            raise PathRefused(f"image {name!r} in --images {self.folder} is not a regular file", status=404)
        return path


def check_output_paths(paths: Dict[str, Path]) -> None:
    """Refuse to write through symbolic links planted in the output folder.

    Args:
        paths: {kind: Path} (e.g. :func:`isegm.annotation.output_paths` plus the autosave).
    Raises:
        PathRefused (403): one of them exists as a symbolic link (named).
    """
    for path in paths.values():
        if Path(path).is_symlink():
            raise PathRefused(f"refused: {path} is a symbolic link; the server writes only plain files in --out",
                              status=403)
