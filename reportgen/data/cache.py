"""Decode once: every split becomes a cached uint8 array ``(N, C, S, S)``, memory-mapped.

Epochs then never touch PIL or JPEG again; a batch is a slice of this array. The cache key is
the hash of the images' *content* (not their names or mtimes) together with the preprocessing
(size, colour mode, resize filter), so replacing an image or changing the input size gives a new
entry, and renaming a folder does not. Arrays are written into a memory-mapped temp file and
renamed into place, so peak RSS stays bounded by one image batch even for datasets larger than
RAM, and a killed run never leaves a half-written cache entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from . import decode
from .pipeline import apply_decode_op
from .sources import SplitSource

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # bump when the decode procedure changes (2: 16-bit/float/DICOM through data/decode.py)
RESIZE_FILTER = "bilinear"


def cache_dir() -> Path:
    env = os.environ.get("REPORTGEN_CACHE_DIR")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "reportgen" / "tensors"


@dataclass
class DecodedSplit:
    images: np.ndarray  # uint8 (N, C, S, S); C = 1 (grayscale) or 3
    labels: np.ndarray  # int64 (N,)
    key: str  # the cache key it was stored under
    # What decoding did, counted over the split: {"source": {"16-bit": n, ...}, "mapping": {"minmax": n, ...}}
    # (data/decode.py tags); None for an entry whose census file is missing.
    census: dict | None = None


def content_key(src: SplitSource, *, size: int, color: str, ops: list[dict] | None = None,
                intensity: object = "auto") -> str:
    """A hash of the split's pixels/bytes, labels and preprocessing (the decode-time ops and the
    intensity policy included)."""
    h = hashlib.sha1()
    h.update(f"v{CACHE_VERSION}|{size}|{color}|{RESIZE_FILTER}|{decode.policy_key(intensity)}|".encode())
    if ops:  # absent for a plain resize, so entries decoded before pipelines existed stay valid
        h.update(json.dumps([dict(op) for op in ops], sort_keys=True).encode())  # typed ops hash as the dicts they were
    h.update(np.ascontiguousarray(src.labels).tobytes())
    if src.arrays is not None:
        h.update(str(src.arrays.shape).encode())
        h.update(np.ascontiguousarray(src.arrays).tobytes())
    else:
        assert src.files is not None
        for f in src.files:
            h.update(hashlib.sha1(f.read_bytes()).digest())
    return h.hexdigest()


def detect_color(src: SplitSource, *, probe: int = 16) -> str:
    """``gray`` if the split's images carry no colour (X-rays saved as RGB included), else ``rgb``."""
    if src.arrays is not None:
        if src.arrays.ndim == 3 or src.arrays.shape[-1] == 1:
            return "gray"
        sample = src.arrays[:probe].astype(np.int16)
        return "gray" if np.all(sample[..., 0] == sample[..., 1]) and np.all(sample[..., 1] == sample[..., 2]) else "rgb"
    assert src.files is not None
    for f in src.files[:probe]:
        if decode.is_dicom(f):
            if decode.dicom_is_grey(f):
                continue
            a = np.asarray(decode.read_dicom(f)[0], dtype=np.int16)
        else:
            try:
                with Image.open(f) as im:
                    if im.mode in ("L", "LA", "I", "1", "F") or im.mode.startswith("I;16"):
                        continue
                    a = np.asarray(im.convert("RGB"), dtype=np.int16)
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
                raise _decode_error(f, exc) from None
        if not (np.abs(a[..., 0] - a[..., 1]).max() <= 2 and np.abs(a[..., 1] - a[..., 2]).max() <= 2):
            return "rgb"
    return "gray"


def _to_chw(img: Image.Image, *, size: int, color: str, ops: list[dict] | None = None) -> np.ndarray:
    img = img.convert("L" if color == "gray" else "RGB")
    if ops:
        # The pipeline's decode-time ops (resize, centre crop, CLAHE) in their declared order, on uint8.
        a = np.asarray(img, dtype=np.uint8)
        for op in ops:
            a = apply_decode_op(a, op)
        if a.shape[:2] != (size, size):
            raise ValueError(f"decode ops gave {a.shape[:2]}, expected {size}×{size}")
        return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    a = np.asarray(img, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _decode_file(path: Path, size: int, color: str, ops: list[dict] | None = None,
                 intensity: object = "auto") -> tuple[np.ndarray, tuple[str, str]]:
    """One file → uint8 (C, S, S) and its decode tags; 16-bit, float and DICOM go through data/decode.py."""
    try:
        im, tags = decode.read_image(path, intensity)
        with im:
            return _to_chw(im, size=size, color=color, ops=ops), tags
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _decode_error(path, exc) from None


def _decode_error(path: Path, exc: BaseException) -> DataError:
    return DataError(f"cannot decode image ({type(exc).__name__})", file=path,
                     fix="replace or delete the file (it may be truncated or not an image)")


def check_headers(src: SplitSource) -> None:
    """Open every image's header (cheap: no pixel decoding) so `validate` catches non-images."""
    for f in src.files or []:
        if decode.is_dicom(f):
            decode.dicom_header(f)  # also refuses multi-frame files and missing decoders
            continue
        try:
            with Image.open(f) as im:
                im.size  # noqa: B018 - reading the header is the check
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise _decode_error(f, exc) from None


def decode_split(src: SplitSource, *, size: int, color: str, workers: int | None = None,
                 progress: bool = False, desc: str = "decode", ops: list[dict] | None = None,
                 intensity: object = "auto") -> DecodedSplit:
    """Decode (or load from cache) one split at ``size``×``size`` pixels.

    ``ops``: the pipeline's decode-time ops (``pipeline.Stages.train_decode`` / ``eval_decode``),
    ending at ``size``; None = a plain bilinear resize to ``size``.
    """
    ops = None if ops == [{"op": "resize", "size": size}] else ops  # the plain resize: same entry as before
    key = content_key(src, size=size, color=color, ops=ops, intensity=intensity)
    final = cache_dir() / f"{key}.npy"
    census_file = final.with_suffix(".census.json")
    clean_stale_temp_files(final.parent)  # leftovers of a decode that was killed last time
    if final.is_file():
        try:
            images = np.load(final, mmap_mode="r")
            if images.shape[0] == len(src):
                return DecodedSplit(images=images, labels=src.labels, key=key, census=_read_census(census_file))
        except (ValueError, OSError):
            log.warning("cache entry %s unreadable; decoding again", final)
    final.parent.mkdir(parents=True, exist_ok=True)
    channels = 1 if color == "gray" else 3
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        # Inside the try: a failed memory-map (no space, no memory) must not leave its sparse file behind.
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(src), channels, size, size))
        census = _fill(out, src, size=size, color=color, workers=workers, progress=progress, desc=desc, ops=ops,
                       intensity=intensity)
        out.flush()
        del out
        # The census first: an entry is complete once its .npy exists, and its census must be there by then.
        ctmp = census_file.with_name(f".{census_file.name}.{os.getpid()}.tmp")
        ctmp.write_text(json.dumps(census, sort_keys=True), encoding="utf-8")
        os.replace(ctmp, census_file)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return DecodedSplit(images=np.load(final, mmap_mode="r"), labels=src.labels, key=key, census=census)


def _read_census(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _count(tags: list[tuple[str, str]]) -> dict:
    source: dict[str, int] = {}
    mapping: dict[str, int] = {}
    for s, m in tags:
        source[s] = source.get(s, 0) + 1
        mapping[m] = mapping.get(m, 0) + 1
    return {"source": source, "mapping": mapping}


_TMP_NAME = re.compile(r"^\.[0-9a-f]+\.(?:npy|census\.json)\.(\d+)\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from /proc; None where unknown."""
    try:
        return Path(f"/proc/{pid}").stat().st_mtime
    except OSError:
        return None


def clean_stale_temp_files(folder: Path) -> list[Path]:
    """Delete decode temp files whose writer is gone (killed mid-decode: ``kill -9``, OOM killer).

    A temp file names its writer's pid. It is stale if that process no longer exists, or if the
    pid now belongs to a process that started after the file was last written (pid reuse).
    Files of a live writer are left alone: another run may be decoding into the same cache.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TMP_NAME.match(entry.name)
        if not m or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(m.group(1))
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        started = _process_start(pid) if _alive(pid) else None
        stale = not _alive(pid) or (started is not None and started > mtime + 1)
        if stale and pid != os.getpid():
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
                log.info("removed a stale decode temp file %s (writer %d is gone)", entry.path, pid)
            except OSError as exc:
                log.debug("cannot remove %s: %s", entry.path, exc)
    return removed


def _fill(out: np.ndarray, src: SplitSource, *, size: int, color: str, workers: int | None,
          progress: bool, desc: str, ops: list[dict] | None = None, intensity: object = "auto") -> dict:
    """Decode every image into ``out``; returns the census of decode tags (data/decode.py)."""
    from tqdm.auto import tqdm

    n = len(src)
    bar = tqdm(total=n, desc=desc, unit="img", leave=False, disable=not progress)
    tags: list[tuple[str, str]] = []
    if src.arrays is not None:  # uint8 arrays (npz): as stored unless a min-max or window policy is declared
        as_stored = decode.policy_name(intensity) in ("auto", "bit_depth")
        for i in range(n):
            a = src.arrays[i].squeeze()
            how = "as_stored"
            if not as_stored:
                a, how = decode.apply_policy(a, intensity, 8, path=Path(f"{desc}[{i}]"), deep=False)
            out[i] = _to_chw(Image.fromarray(a), size=size, color=color, ops=ops)
            tags.append(("8-bit", how))
            bar.update(1)
    else:
        assert src.files is not None
        # PIL releases the GIL while decoding and resizing, so threads use every core.
        with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
            for i, (arr, tag) in enumerate(pool.map(lambda f: _decode_file(f, size, color, ops, intensity),
                                                    src.files)):
                out[i] = arr
                tags.append(tag)
                bar.update(1)
    bar.close()
    return _count(tags)
