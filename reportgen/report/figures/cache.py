"""The figure cache: ``<run>/figures/<hash>.png``, keyed by a hash of everything a figure is drawn from.

The key covers the kind, the data (numbers, labels; arrays by their bytes; the store's image references by
their path and size/mtime stamp), the style version, matplotlib's version, the DPI and the font, so a
re-render after editing notes redraws nothing and a re-render after one new run redraws only the figures
that show it. These PNGs are render's own output (written through the store's atomic writer, never
through a link): reading them back is the one file read a figure needs, and a damaged entry is redrawn.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from .style import DPI, STYLE_VERSION

log = logging.getLogger(__name__)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _key_part(obj: Any) -> Any:
    """A stable JSON stand-in for what json cannot hold: an array by a hash of its dtype, shape and bytes
    (``str()`` of a long array elides the middle, so two different arrays would share a key)."""
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        digest = hashlib.sha256(arr.tobytes()).hexdigest()
        return {"ndarray": [str(arr.dtype), list(arr.shape), digest]}
    return str(obj)  # Path, StoreImage (its repr holds its relative path and stamp), numpy scalars


def job_key(job: tuple[str, dict], font_path: str) -> str:
    """A hash of everything a figure is drawn from (see the module docstring)."""
    blob = json.dumps([STYLE_VERSION, matplotlib.__version__, DPI, str(font_path), job[0], job[1]],
                      sort_keys=True, default=_key_part, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def valid_png(data: bytes) -> bool:
    """A complete, decodable PNG (a truncated or overwritten cache entry must be redrawn, not embedded)."""
    if not data.startswith(_PNG_SIGNATURE) or not data.endswith(_PNG_END):
        return False
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # decompresses every row: a corrupted IDAT fails here
    except Exception:  # noqa: BLE001 - PIL raises many kinds for bad data; any of them means "redraw"
        return False
    return True


class FigureCache:
    """A folder of ``<key>.png`` files to read and fill; ``None`` as the folder: no cache."""

    def __init__(self, folder: str | os.PathLike | None) -> None:
        self.folder = Path(folder) if folder is not None else None

    def read(self, key: str) -> bytes | None:
        """The cached PNG of ``key``; None when absent, a link, unreadable or damaged (then it is redrawn)."""
        path = self.folder / f"{key}.png" if self.folder is not None else None
        if path is not None and path.is_file() and not path.is_symlink():
            try:
                png = path.read_bytes()
            except OSError:
                return None
            if valid_png(png):
                return png
            log.warning("figure cache entry %s is damaged; drawing it again", path)
        return None

    def write(self, key: str, png: bytes) -> None:
        from ...store import atomic_write_bytes

        if self.folder is None:
            return
        try:
            atomic_write_bytes(self.folder / f"{key}.png", png)
        except OSError as exc:  # a read-only run folder still renders, just without a cache
            log.debug("cannot cache figure %s (%s)", key, exc)

    def prune(self, keep: Iterable[str]) -> None:
        """Delete cached figures whose key is not in ``keep``."""
        keep = set(keep)
        if self.folder is not None and self.folder.is_dir() and not self.folder.is_symlink():
            for old in self.folder.glob("*.png"):
                if old.stem not in keep:
                    old.unlink(missing_ok=True)
