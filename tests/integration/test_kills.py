"""kill -9 at the wrong moment: decode temp files are cleaned on the next start, render workers
die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from tests.conftest import DEMO_NPZ, ROOT


def _spawn(script: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for(predicate, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed child nobody has reaped yet counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


# A decode slowed to ~10 ms per image (PneumoniaMNIST train images, the real decode path) so the
# kill lands while the memory-mapped temp file is being filled.
DECODE = """
    import sys, time
    import numpy as np
    from reportgen.data import cache
    from reportgen.data.sources import SplitSource

    slow = cache._to_chw
    def _to_chw(*a, **k):
        time.sleep(0.01)
        return slow(*a, **k)
    cache._to_chw = _to_chw
    npz = np.load(sys.argv[1])
    src = SplitSource(labels=npz["train_labels"][:1500, 0].astype("int64"), arrays=npz["train_images"][:1500])
    cache.decode_split(src, size=64, color="gray")
"""


def test_kill_during_decode_leaves_a_temp_file_that_the_next_start_removes(tmp_path: Path, monkeypatch) -> None:
    from reportgen.data import cache
    from reportgen.data.sources import SplitSource

    cdir = tmp_path / "cache"
    monkeypatch.setenv("REPORTGEN_CACHE_DIR", str(cdir))
    proc = _spawn(DECODE, str(DEMO_NPZ), env={"REPORTGEN_CACHE_DIR": str(cdir)})
    try:
        assert _wait_for(lambda: any(cdir.glob(".*.tmp"))), proc.stdout.read().decode() if proc.stdout else ""
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (left,) = cdir.glob(".*.tmp")
    assert not list(cdir.glob("*.npy")), "a killed decode must not leave a cache entry"
    # A temp file whose writer is alive (another run decoding into the same cache) must be kept.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.2)
        live = cdir / f".{'ab' * 20}.npy.{sleeper.pid}.tmp"
        live.write_bytes(b"in progress")
        npz = np.load(DEMO_NPZ)
        src = SplitSource(labels=npz["test_labels"][:20, 0].astype(np.int64), arrays=npz["test_images"][:20])
        out = cache.decode_split(src, size=28, color="gray")  # the next start
        assert out.images.shape == (20, 1, 28, 28)
        assert not left.exists()
        assert live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_failed_memory_map_leaves_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    from reportgen.data import cache
    from reportgen.data.sources import SplitSource

    monkeypatch.setenv("REPORTGEN_CACHE_DIR", str(tmp_path))
    real = np.lib.format.open_memmap

    def failing(path, *args, **kwargs):  # the file is created, then the map fails (ENOMEM, ENOSPC)
        real(path, *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "open_memmap", failing)
    npz = np.load(DEMO_NPZ)
    src = SplitSource(labels=npz["val_labels"][:10, 0].astype(np.int64), arrays=npz["val_images"][:10])
    try:
        cache.decode_split(src, size=28, color="gray")
    except OSError:
        pass
    assert list(tmp_path.iterdir()) == []


RENDER = """
    import sys, time
    from reportgen.report import figures
    from reportgen.report.render import render_report

    def draw(job, font_path):  # a worker busy drawing when the parent is killed
        time.sleep(120)
    figures.kinds.draw = draw  # what FigureSet calls
    render_report(sys.argv[1], lang="en", jobs=2)
"""


def test_render_workers_die_with_a_killed_parent(store_copy: Path) -> None:
    proc = _spawn(RENDER, str(store_copy), env={"REPORTGEN_RENDER_JOBS": "2"})
    workers: list[int] = []
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) >= 2), proc.stdout.read().decode() if proc.stdout else ""
        time.sleep(1.0)  # let the workers pick up figures
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait_for(lambda: not any(_running(w) for w in workers), timeout=10), \
            [w for w in workers if _running(w)]
    finally:
        for w in workers:
            if _running(w):
                os.kill(w, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
