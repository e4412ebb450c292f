"""Peak memory of one cell (and of each epoch), not of the process so far.

The process's ``ru_maxrss`` only ever grows, so in an inline run every cell "costs" at least what the
biggest earlier cell did. Each measure here is reset where a cell (or epoch) starts:

- CUDA: the caching allocator's ``max_memory_allocated``, reset with ``reset_peak_memory_stats`` — the
  device memory the cell's tensors occupied at their peak (``cuda_max_allocated``).
- CPU (Linux): the kernel's high-water mark of the resident set (``VmHWM``), reset by writing ``5`` to
  ``/proc/self/clear_refs`` after ``malloc_trim(0)`` has handed the memory that earlier cells freed back
  to the OS (``cell_peak_rss``). The kernel keeps the mark, so no spike between samples is missed, and
  nothing is sampled while training. It includes what the process holds anyway (the interpreter, torch,
  the decoded datasets): it is what running this cell alone would need, not an increment.
- Elsewhere (no writable ``clear_refs``): a thread samples the RSS every 10 ms while the cell runs
  (``cell_sampled_rss``; a spike shorter than that can be missed).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from pathlib import Path

import torch

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
_STATM = Path("/proc/self/statm")
_PAGE = 4096


def _trim() -> None:
    """Return freed heap memory to the OS (glibc), so an earlier cell's freed pages are not counted again."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _hwm_kib() -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_bytes() -> int:
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return _hwm_kib() is not None
    except OSError:
        return False


class _Sampler:
    """The fallback: the highest RSS a 10 ms sampling thread saw since the last reset."""

    def __init__(self) -> None:
        self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="reportgen-rss")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_bytes())

    def reset(self) -> None:
        self.peak = _rss_bytes()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


class PeakMemory:
    """The peak memory of ``device`` since the last :meth:`reset`, in MiB, and the cell's peak over all segments.

    ``segment()`` returns the peak since the last reset and starts a new segment (an epoch); ``cell_mb``
    is the highest segment seen since the meter was made (the cell).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._sampler: _Sampler | None = None
        if device.type == "cuda":
            self.kind = "cuda_max_allocated"
        else:
            _trim()
            self.kind = "cell_peak_rss" if _reset_hwm() else "cell_sampled_rss"
            if self.kind == "cell_sampled_rss":
                self._sampler = _Sampler()
        self.cell_mb = 0.0
        self._reset()

    def reset(self) -> None:
        """Start a new segment; what the last one reached still counts towards ``cell_mb``."""
        self.peak_mb()
        self._reset()

    def _reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self._sampler is not None:
            self._sampler.reset()
        else:
            _reset_hwm()

    def peak_mb(self) -> float:
        """The peak since the last reset (also folded into ``cell_mb``)."""
        if self.device.type == "cuda":
            mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self._sampler is not None:
            mb = max(self._sampler.peak, _rss_bytes()) / 2**20
        else:
            mb = (_hwm_kib() or 0) / 1024
        self.cell_mb = max(self.cell_mb, mb)
        return mb

    def segment(self) -> float:
        mb = self.peak_mb()
        self._reset()
        return mb

    def close(self) -> float:
        """The cell's peak, after the last segment; stops the sampler where there is one."""
        self.peak_mb()
        if self._sampler is not None:
            self._sampler.close()
        return self.cell_mb
