"""Fault injection at the store's one write choke point (``store.write_point``), for the write-fault tests.

``install(n, mode)`` makes the ``n``-th write of this process fail: ``enospc`` / ``eio`` raise the OSError a
full or failing disk raises, ``kill`` sends this process SIGKILL (the temp file of that write is already on
disk, as after a real ``kill -9``). ``mode = "count"`` fails nothing and records every write's path.

Run as a script it is ``reportgen`` with a fault installed:
``python tests/faults.py MODE N [COUNT_FILE] -- reportgen-args...`` (the kill case needs its own process).
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from pathlib import Path

MODES = ("enospc", "eio", "kill")


class Injector:
    def __init__(self, n: int, mode: str) -> None:
        self.n, self.mode, self.count, self.paths = n, mode, 0, []

    def __call__(self, path: Path, nbytes: int) -> None:
        self.count += 1
        self.paths.append(str(path))
        if self.count != self.n or self.mode == "count":
            return
        if self.mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        code = errno.ENOSPC if self.mode == "enospc" else errno.EIO
        raise OSError(code, os.strerror(code), str(path))


def install(n: int, mode: str) -> Injector:
    from reportgen import store

    inj = Injector(n, mode)
    store.write_hook = inj
    return inj


def uninstall() -> None:
    from reportgen import store

    store.write_hook = None


if __name__ == "__main__":
    mode, n = sys.argv[1], int(sys.argv[2])
    count_file = sys.argv[3] if sys.argv[3] != "--" else None
    args = sys.argv[sys.argv.index("--") + 1:]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    inj = install(n, mode)
    from reportgen.cli import cli

    try:
        cli.main(args, prog_name="reportgen")
    finally:
        if count_file:
            Path(count_file).write_text("\n".join(inj.paths) + "\n", encoding="utf-8")
