"""Every figure of one render, looked up by key: cached ones read at once, the others drawn in the background.

``kinds.draw`` is looked up when a figure is drawn (not bound at import), so a test can replace it.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor

from ...errors import RenderError
from . import kinds
from .cache import FigureCache, job_key


class FigureSet:
    """Every figure of one render, looked up by key; drawn in the background where a pool is given.

    Cached figures are read at once. The others are submitted to ``pool`` in document order (when
    the set is made, or by :meth:`start`), so the caller can go on (lay out the PDF, whose image fetches call :meth:`get` and
    wait only for the figure they need) while the figures are drawn on the other cores. Without a
    pool, :meth:`get` draws a figure the first time it is asked for.

    Args:
        jobs: ``(kind, kwargs)`` figure jobs.
        font_path: the CJK font to draw text with.
        cache_dir: a folder of ``<key>.png`` files to read and fill (``<run>/figures``); None: no cache.
        pool: a process pool from :func:`worker_pool`, or None.
    """

    def __init__(self, jobs: list[tuple[str, dict]], font_path: str, *, cache_dir: str | os.PathLike | None = None,
                 pool: ProcessPoolExecutor | None = None):
        self.font_path = str(font_path)
        self.keys = [job_key(j, self.font_path) for j in jobs]
        self.cache = FigureCache(cache_dir)
        self.drawn = 0
        self._jobs = dict(zip(self.keys, jobs, strict=False))
        self._done: dict[str, bytes] = {}
        self._pending: dict[str, Future] = {}
        self._lock = threading.Lock()
        for key in self._jobs:
            png = self.cache.read(key)
            if png is not None:
                self._done[key] = png
        if pool is not None:
            self.start(pool)

    def start(self, pool: ProcessPoolExecutor) -> None:
        """Queue every figure not cached yet on ``pool``, in document order."""
        for key in self._jobs:
            if key not in self._done and key not in self._pending:
                self._pending[key] = pool.submit(kinds.draw, self._jobs[key], self.font_path)

    def get(self, key: str) -> bytes:
        """The PNG bytes of figure ``key``, waiting for (or drawing) it if needed. Thread-safe."""
        with self._lock:
            if key in self._done:
                return self._done[key]
            future = self._pending.get(key)
        try:
            png = future.result() if future is not None else kinds.draw(self._jobs[key], self.font_path)
        except Exception as exc:  # a drawing bug: say which figure, keep the cause for --debug
            raise RenderError(f"the {self._jobs[key][0]} figure could not be drawn: {type(exc).__name__}: {exc}",
                              fix="render with --jobs 1 to see the error in this process, and report it as a bug"
                              ) from exc
        with self._lock:
            if key not in self._done:
                self._done[key] = png
                self.drawn += 1
                self.cache.write(key, png)
            return self._done[key]

    def all(self) -> dict[str, bytes]:
        """Every figure, ``{key: png}`` (waits for the ones still being drawn)."""
        return {key: self.get(key) for key in self._jobs}

    def pngs(self) -> list[bytes]:
        """PNG bytes per job, in the order the jobs were given."""
        done = self.all()
        return [done[k] for k in self.keys]

    def prune(self) -> None:
        """Delete cached figures this set does not use (call it when every language was rendered)."""
        self.cache.prune(self._jobs)
