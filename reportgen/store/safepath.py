"""Writing into a results store without ever following a symbolic link out of it.

A store is a folder other people's tools (and other people) can tamper with. If ``<run>/.lock``,
``<run>/figures``, a cell folder or ``report.html`` were a link to somewhere else, writing or
deleting "inside the store" would truncate or delete files outside it. So every path reportgen
writes or deletes under a run folder goes through here first:

- :func:`check_inside` refuses a path if any component from the run folder down is a symbolic link (the
  store's reader, :mod:`reportgen.store.load`, checks every file it reads the same way);
- :func:`check_store` refuses a store that holds any symbolic link at all (one walk, before writing);
- :func:`open_lock` opens the lock file with ``O_NOFOLLOW`` (no window between a check and the open);
- :func:`check_output` refuses an output file (``--out``) that is a link or sits in a folder that
  cannot be written, with a message instead of a traceback.

The run folder itself may be a link (``runs -> /scratch/runs`` is a user's choice); what is below it
may not. Renames (``os.replace``) replace a link instead of writing through it, so atomic writes
are safe once their folder is checked.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import StoreError

_FIX = "delete the link (reportgen never writes through symbolic links in a results store) and run again"


def _link_error(link: Path, root: Path, action: str = "write") -> StoreError:
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    return StoreError(f"is a symbolic link (to {target}); refusing to {action} through it", file=link,
                      expected=f"a plain file or folder inside {root}", fix=_FIX)


def check_inside(root: str | os.PathLike, path: str | os.PathLike, *, action: str = "write") -> Path:
    """Return ``path`` if no component of it below ``root`` is a symbolic link; else a StoreError.

    ``path`` need not exist yet (components that do not exist cannot be links). ``action`` words the
    error ("write", or "read" for the store's reader, :mod:`reportgen.store.load`).
    """
    root, path = Path(root), Path(path)
    try:
        rel = path.relative_to(root)
    except ValueError:
        raise StoreError("path is outside the results store", file=path, expected=f"a path inside {root}",
                         fix="report this as a bug") from None
    cur = root
    for part in rel.parts:
        cur = cur / part
        if cur.is_symlink():
            raise _link_error(cur, root, action)
        if not cur.exists():
            break
    return path


UNCHECKED_DIRS = (".submitit",)


def check_store(root: str | os.PathLike) -> None:
    """Refuse a store that holds a symbolic link anywhere below its root (walks without following links)."""
    root = Path(root)
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        # submitit's own folder: it links job files to their submission script; reportgen never writes there.
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) == root and d in UNCHECKED_DIRS)]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                raise _link_error(p, root)


def open_lock(path: str | os.PathLike) -> int:
    """Open (create) a lock file without following a link and without truncating anything.

    Returns a file descriptor (the caller closes it).
    """
    path = Path(path)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if path.is_symlink():
            raise _link_error(path, path.parent) from None
        raise StoreError(f"cannot create the lock file ({exc.strerror or exc})", file=path,
                         expected="a writable results folder",
                         fix="check the folder's permissions, or set [experiment] output_dir to a writable folder"
                         ) from None


def check_writable_dir(folder: str | os.PathLike, *, what: str, key: str | None = None,
                       file: str | os.PathLike | None = None) -> None:
    """A folder that exists or can be created, and that can be written; else a StoreError naming it.

    Nothing is created: the first existing ancestor is checked for write permission.
    """
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.is_symlink():  # a dangling link: creating the folder would follow it
            raise _link_error(probe, probe.parent)
        if probe.parent == probe:
            break
        probe = probe.parent
    where = file if file is not None else folder
    if probe.exists() and not probe.is_dir():
        raise StoreError(f"cannot create the {what}: {probe} is a file, not a folder", file=where, key=key,
                         expected="a folder (or a path that can become one)",
                         fix=f"move {probe} away or choose another folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise StoreError(f"cannot write the {what}: {probe} is not writable", file=where, key=key,
                         expected="a folder you can write to",
                         fix="change its permissions or choose another folder")


def check_output(path: str | os.PathLike, *, what: str = "report") -> Path:
    """An output file the user named (``--out``): not a link, in a writable folder."""
    path = Path(path)
    if path.is_symlink():
        raise StoreError(f"the {what} path is a symbolic link (to {os.readlink(path)}); refusing to write through it",
                         file=path, expected="a plain file path", fix="remove the link or choose another --out")
    if path.is_dir():
        raise StoreError(f"the {what} path is a folder", file=path, expected="a file path ending in .html",
                         fix="choose another --out")
    check_writable_dir(path.parent, what=f"{what} folder", file=path)
    return path
