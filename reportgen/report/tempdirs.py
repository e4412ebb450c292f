"""Render's temporary files live in a folder of the results store, removed at exit and on the next render.

WeasyPrint writes each embedded font to a ``weasyprint-*`` file in the system temp folder, and render
subsets the CJK font into ``reportgen-font-*``; a ``render --pdf`` killed half-way left nine such
entries in ``$TMPDIR``, and an ordinary one still left WeasyPrint's. While a render runs, the process's
temp folder (``tempfile.tempdir`` and ``TMPDIR``, which its forked workers inherit) is
``<run>/.render-tmp/<host>-<pid>-<random>/``: removed when the render ends, and — when a ``kill -9``
prevented that — by the next render, once the process that made it is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .. import store

log = logging.getLogger(__name__)
FOLDER = ".render-tmp"
_NAME = re.compile(r"^(?P<host>[^.]+)-(?P<pid>\d+)-[A-Za-z0-9_]+$")


def clean_stale(run_dir: Path) -> list[Path]:
    """Remove the temp folders of renders that were killed (their process is gone)."""
    removed: list[Path] = []
    base = Path(run_dir).resolve() / FOLDER  # absolute: temp paths become file URIs (fonts in the PDF)
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        m = _NAME.match(entry.name)
        if not m or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if store._writer_gone(m["host"], int(m["pid"]), mtime):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def render_tempdir(run_dir: Path) -> Iterator[Path | None]:
    """Within the block, every temp file of this process (and its forked workers) goes under the store."""
    base = Path(run_dir).resolve() / FOLDER  # absolute: temp paths become file URIs (fonts in the PDF)
    try:
        clean_stale(run_dir)
        store.clean_stale_temp_files(run_dir)  # atomic-write temp files of a killed run or render
        base.mkdir(exist_ok=True)
        if base.is_symlink():  # never write through a link in a store
            raise OSError("a link")
        mine = Path(tempfile.mkdtemp(prefix=f"{store._HOST}-{os.getpid()}-", dir=base))
    except OSError as exc:  # a read-only store: render fails later with its own message
        log.debug("no render temp folder in %s (%s)", run_dir, exc)
        yield None
        return
    old_env, old_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(mine), str(mine)
    try:
        yield mine
    finally:
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env
        tempfile.tempdir = old_dir
        shutil.rmtree(mine, ignore_errors=True)
        with contextlib.suppress(OSError):
            base.rmdir()  # only when empty: another render may be using it
