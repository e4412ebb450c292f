"""The runs under a folder, and the one that trained last: what ``render`` renders when no run is named.

Part of the store layer because it walks store folders (``run.json``, ``cells/*/epochs.csv`` and
``result.json``, by lstat only); a linked run folder or file is never followed.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError


def runs_under(root: Path) -> list[Path]:
    """Run folders (holding run.json) directly under ``root``; a linked folder or run.json is not a run here."""
    return sorted(p.parent for p in Path(root).glob("*/run.json")
                  if not p.is_symlink() and not p.parent.is_symlink())


def last_trained(run: Path) -> float:
    """When ``run`` last trained: the newest run.json, epochs.csv or result.json in it (lstat, links ignored).

    epochs.csv grows a row per epoch, so a run still training (or killed mid-cell) counts by its last epoch.
    """
    times = [(run / "run.json").lstat().st_mtime]
    for cell in (run / "cells").glob("*"):
        if cell.is_symlink():
            continue
        for name in ("epochs.csv", "result.json"):
            f = cell / name
            if f.exists() and not f.is_symlink():
                times.append(f.lstat().st_mtime)
    return max(times)


def default_run_dir(root: Path = Path("runs")) -> tuple[Path, list[Path]]:
    """The run under ``root`` that trained last, and the other runs found there (newest first).

    ``reportgen run experiments/hw4.toml`` then ``reportgen render --pdf`` renders what was just trained,
    even when ``runs/`` holds older runs; the CLI names the choice so it is never a surprise.
    """
    runs = runs_under(root)
    if not runs:
        raise StoreError("no run folder given and none found under ./runs", file=root,
                         fix="pass the run folder: reportgen render runs/<name>, or train one first with "
                             "reportgen run experiments/<name>.toml")
    ordered = sorted(runs, key=lambda r: (last_trained(r), str(r)), reverse=True)
    return ordered[0], ordered[1:]
