"""PNG files of the results store that the report shows (sample grids, augmentation previews, explain
galleries), as checked references: the loader resolves them, a figure worker decodes them.

The records that list images (``samples.json``, ``augment_preview.json``, ``explain.json``) name them by
file name; a tampered record could name ``../../secret.png``, or the file could be a symbolic link out
of the store. :func:`image_ref` accepts only plain names below the record's folder, refuses a link on
the way (a StoreError), and stamps the file with its size and mtime so a figure cache keyed on the
reference notices a rewritten image. :meth:`StoreImage.read` opens it with ``O_NOFOLLOW`` — never
through a link, even one made after loading. The report receives these objects and never opens a
store file itself; decoding happens in the figure workers (a cached figure needs no image read at all).
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import StoreError
from . import safepath

_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # a folder name below the record's folder
_PNG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\.png$")  # no dot-files, no "..", no separators
GRID_GRAY = ("L", "I", "I;16", "1", "LA")  # modes decoded as one grey channel in image grids


@dataclass(frozen=True)
class StoreImage:
    """A PNG of the store: where it is (relative to the run folder) and a stamp of its size and mtime.

    Its ``repr`` holds both, so a figure job that carries it is cached under a key that changes when the
    image does; it pickles to a worker process as a few strings.
    """

    # The file (under the run folder; no link on the way when it was loaded). Not in the repr: a figure's
    # cache key should not change because the run folder was moved or copied.
    path: Path = field(repr=False)
    rel: str  # relative to the run folder, for messages and cache keys
    stamp: str  # "<size>:<mtime_ns>", "" when the file is missing

    def read(self, gray: tuple[str, ...] = GRID_GRAY) -> np.ndarray | None:
        """The image as an array (H, W) for the ``gray`` modes, else (H, W, 3); None if missing, a link or
        not an image."""
        from PIL import Image, UnidentifiedImageError

        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return np.asarray(im.convert("L") if im.mode in gray else im.convert("RGB"))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            return None


def _stamp(path: Path) -> str:
    try:
        st = path.lstat()
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def plain_png_name(name: str, *, folders: bool = False) -> bool:
    """Whether ``name`` is a PNG file name a record may list (``folders``: with plain folder names before it)."""
    parts = name.split("/")
    if len(parts) > 1 and not folders:
        return False
    return bool(_PNG_NAME.match(parts[-1])) and all(_PART.match(p) for p in parts[:-1])


def image_ref(root: Path, folder: Path, name: str) -> StoreImage | None:
    """The PNG ``name`` listed by a record in ``folder`` (below the run folder ``root``), or None when ``name``
    is not a plain PNG file name. A symbolic link on the way is a StoreError."""
    if not plain_png_name(name):
        return None
    path = safepath.check_inside(root, folder / name, action="read")
    return StoreImage(path=path, rel=str(path.relative_to(root)), stamp=_stamp(path))


def required_image(root: Path, cell_dir: Path, rel: str, *, record: Path, key: str) -> StoreImage:
    """A PNG a record lists by a path relative to its cell folder (``explain/test_3.png``): it must be a plain
    relative path and exist. Anything else is a StoreError naming the record and the key."""
    if not plain_png_name(rel, folders=True):
        raise StoreError(f"lists {rel!r}, which is not a PNG file name inside the cell folder", file=record,
                         key=key, expected="a relative path such as explain/test_0.png",
                         fix="delete the cell folder and rerun `reportgen run`")
    path = safepath.check_inside(root, cell_dir / rel, action="read")
    if not path.is_file():
        raise StoreError(f"lists {rel}, which is missing from the cell folder", file=record, key=key,
                         fix="delete the cell folder and rerun `reportgen run`")
    return StoreImage(path=path, rel=str(path.relative_to(root)), stamp=_stamp(path))
