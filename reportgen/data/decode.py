"""Pixel-faithful decoding: any stored image → the 8-bit picture the model is fed, by a declared policy.

PIL's ``convert("L")`` clips a 16-bit X-ray (mode ``I;16``) to 0–255 instead of rescaling it: a 16-bit
ramp comes out 99 % white and the model trains on blank images with no error. Every image file goes
through :func:`read_image` instead, which maps its intensities to 0–255 by the dataset's ``intensity``
policy (``[[datasets]] intensity`` in the TOML, recorded in ``datasets/<name>.json``):

- ``"auto"`` (default): 8-bit images exactly as stored (byte-identical to before, so 8-bit datasets give
  the same numbers); DICOM through the file's own VOI window or VOI LUT (min–max where the file has
  none); deeper integer and float images min–max per image.
- ``"minmax"``: every image stretched from its own minimum to its maximum.
- ``"bit_depth"``: the container's full range (0–65535 for 16-bit) maps to 0–255; floats must lie in 0–1.
- ``{window = [centre, width]}``: the DICOM linear window (PS3.3 C.11.2.1.2.1) on the stored values, or on
  the modality values (e.g. Hounsfield units) for DICOM; values outside the window saturate, by request.

DICOM (``.dcm``): the modality LUT (rescale slope/intercept or a Modality LUT Sequence) comes first,
then the VOI step above, then ``MONOCHROME1`` is inverted so that dense tissue is always bright.
Multi-frame files are refused (one image per row/file is what a classifier's dataset means here).
Compressed transfer syntaxes decode through pydicom's plugins (pylibjpeg: JPEG, JPEG-LS, JPEG 2000, RLE).

Each decoded image also yields a tag pair (what it was, what was done) that the cache counts per split,
so the report can state what the policy actually did to this dataset's images.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile

from ..config import keys
from ..errors import DataError

POLICIES = keys.INTENSITY_POLICIES
DICOM_SUFFIXES = {".dcm", ".dicom"}
_DEEP_MODES = {"I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16, "I": 32, "F": 32}
_FIX_POLICY = 'set intensity = "minmax" (or a window, intensity = {window = [centre, width]}) for this dataset'


# --------------------------------------------------------------------------- the policy (config value)
# The TOML check is the config side's (config never imports data): "auto" | "minmax" | "bit_depth" | window.
check_intensity = keys.intensity


def policy_name(policy: Any) -> str:
    return "window" if isinstance(policy, dict) else str(policy)


def policy_key(policy: Any) -> str:
    """A stable text for cache keys and records."""
    return f"window={policy['window'][0]:g},{policy['window'][1]:g}" if isinstance(policy, dict) else str(policy)


# --------------------------------------------------------------------------- the intensity maps
def to_u8(y01: np.ndarray) -> np.ndarray:
    """Values in [0, 1] → uint8 0–255, rounded half up (the one rounding every path uses)."""
    return np.floor(np.clip(y01, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def minmax(a: np.ndarray) -> np.ndarray:
    """Stretch one image from its minimum to its maximum (a constant image becomes black)."""
    a = a.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    return to_u8((a - lo) / (hi - lo)) if hi > lo else np.zeros(a.shape, np.uint8)


def window(a: np.ndarray, centre: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """The DICOM VOI window (PS3.3 C.11.2.1.2 LINEAR, LINEAR_EXACT, SIGMOID) onto 0–255."""
    a = a.astype(np.float64)
    function = (function or "LINEAR").upper()
    if function == "SIGMOID":
        return to_u8(1.0 / (1.0 + np.exp(-4.0 * (a - centre) / width)))
    if function == "LINEAR_EXACT":
        return to_u8((a - centre) / width + 0.5)
    if width < 1:  # LINEAR's (w - 1) denominator: the standard requires w ≥ 1
        raise ValueError(f"window width {width:g} < 1")
    return to_u8((a - (centre - 0.5)) / (width - 1) + 0.5)


def bit_depth(a: np.ndarray, bits: int, *, path: Path) -> np.ndarray:
    """The container's full range → 0–255: ``x / (2**bits - 1)``; floats are taken as 0–1."""
    if a.dtype.kind == "f":
        if a.size and (float(np.nanmin(a)) < 0 or float(np.nanmax(a)) > 1):
            raise DataError(f"float image values span {float(np.nanmin(a)):g}..{float(np.nanmax(a)):g}, outside "
                            '0..1 that intensity = "bit_depth" assumes for floats', file=path, fix=_FIX_POLICY)
        return to_u8(a.astype(np.float64))
    if a.size and int(a.min()) < 0:
        raise DataError('signed pixel values cannot be read by intensity = "bit_depth"', file=path, fix=_FIX_POLICY)
    return to_u8(a.astype(np.float64) / (2.0 ** bits - 1))


def apply_policy(a: np.ndarray, policy: Any, bits: int, *, path: Path, deep: bool) -> tuple[np.ndarray, str]:
    """One array through the policy → (uint8, what was done)."""
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise DataError("the image holds NaN or infinite values", file=path,
                        fix="replace the non-finite pixels (or drop the image)")
    name = policy_name(policy)
    if name == "window":
        c, w = policy["window"]
        return window(a, c, w), "window"
    if name == "minmax" or (name == "auto" and deep):
        return minmax(a), "minmax"
    if name == "bit_depth" and deep:
        return bit_depth(a, bits, path=path), "bit_depth"
    return a.astype(np.uint8), "as_stored"  # 8-bit under auto / bit_depth: exactly the stored bytes


# --------------------------------------------------------------------------- files
def is_dicom(path: Path) -> bool:
    return Path(path).suffix.lower() in DICOM_SUFFIXES


_STRICT = threading.Lock()


def _load_strict(im: Image.Image) -> None:
    """Decode the pixels, refusing a truncated file even when the process has PIL's global
    ``LOAD_TRUNCATED_IMAGES`` on (WeasyPrint switches it on at import): a cut-off X-ray padded with grey
    would train silently and pass validation."""
    if not ImageFile.LOAD_TRUNCATED_IMAGES:
        im.load()
        return
    with _STRICT:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            im.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = True


def read_image(path: Path, policy: Any = "auto") -> tuple[Image.Image, tuple[str, str]]:
    """Decode one file to an 8-bit PIL image (``L``, ``RGB`` or the stored 8-bit mode) and its tags.

    Tags: ``(source, mapping)``, e.g. ``("16-bit", "minmax")``, ``("dicom", "file_window")``.
    PIL/cv2/pydicom failures propagate (the cache turns them into one DataError naming the file).
    """
    path = Path(path)
    if is_dicom(path):
        arr, tags = read_dicom(path, policy)
        return Image.fromarray(arr), tags
    im = Image.open(path)
    try:
        _load_strict(im)
        if im.mode in _DEEP_MODES:
            a = np.asarray(im)
            bits = 16 if "16" in im.mode else _tiff_bits(im) or 32
            source = "float" if a.dtype.kind == "f" else f"{bits}-bit"
            out, how = apply_policy(a, policy, bits, path=path, deep=True)
            return Image.fromarray(out), (source, how)
        if im.mode in ("RGB", "RGBA") and _is_16bit_colour(path, im):
            a = _read_16bit_colour(path)
            out, how = apply_policy(a, policy, 16, path=path, deep=True)
            return Image.fromarray(out), ("16-bit", how)
        if policy_name(policy) in ("auto", "bit_depth"):
            return im.copy(), ("8-bit", "as_stored")  # unchanged: the caller converts to L/RGB as before
        grey = im.mode in ("L", "LA", "1", "P") and (im.mode != "P" or _palette_is_grey(im))
        a = np.asarray(im.convert("L" if grey else "RGB"))
        out, how = apply_policy(a, policy, 8, path=path, deep=False)
        return Image.fromarray(out), ("8-bit", how)
    finally:
        im.close()


def _palette_is_grey(im: Image.Image) -> bool:
    rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    return bool(np.all(rgb[..., 0] == rgb[..., 1]) and np.all(rgb[..., 1] == rgb[..., 2]))


def _tiff_bits(im: Image.Image) -> int | None:
    tags = getattr(im, "tag_v2", None)
    bits = tags.get(258) if tags is not None else None
    if isinstance(bits, tuple):
        bits = bits[0] if bits else None
    return int(bits) if bits else None


def _is_16bit_colour(path: Path, im: Image.Image) -> bool:
    """PIL opens 48-bit RGB PNG/TIFF as 8-bit RGB (high bytes only); such files are read with OpenCV."""
    if im.format == "PNG":
        with open(path, "rb") as fh:
            head = fh.read(25)
        return len(head) == 25 and head[24] == 16  # IHDR bit depth
    if im.format == "TIFF":
        return (_tiff_bits(im) or 8) == 16
    return False


def _read_16bit_colour(path: Path) -> np.ndarray:
    import cv2  # opencv-python-headless is a dependency already (the clahe op)

    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if a is None or a.ndim != 3 or a.shape[2] < 3:
        raise OSError("OpenCV could not read the 16-bit colour image")
    return np.ascontiguousarray(a[..., 2::-1])  # BGR(A) → RGB


# --------------------------------------------------------------------------- DICOM
def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError:  # a declared dependency; a hand-made environment may lack it
        raise DataError("reading DICOM files needs pydicom, which is not installed",
                        fix="pip install pydicom pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle"
                        ) from None
    return pydicom


def dicom_header(path: Path) -> Any:
    """Read a DICOM header (no pixels) and refuse what reportgen cannot use, naming the file."""
    pydicom = _pydicom()
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on a foreign or damaged file
        raise DataError(f"cannot read as DICOM ({type(exc).__name__})", file=path,
                        fix="replace or delete the file (it may be truncated or not DICOM)") from None
    if "Rows" not in ds or "Columns" not in ds:
        raise DataError("the DICOM file holds no image (no Rows/Columns)", file=path,
                        fix="list only image objects (not reports, plans or structure sets)")
    frames = _frames(ds)
    if frames > 1:
        raise DataError(f"multi-frame DICOM ({frames} frames) is not supported", file=path,
                        expected="one image per file (a single frame)",
                        fix="export the frame you want as its own file (e.g. with pydicom: "
                            "ds.pixel_array[i]), or remove the file from the dataset")
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is not None:
        try:
            from pydicom.pixels import get_decoder

            decoder = get_decoder(ts)
        except (ImportError, NotImplementedError, ValueError):
            decoder = None
        if decoder is not None and not decoder.is_available:
            raise DataError(f"no decoder installed for the transfer syntax {ts.name}", file=path,
                            fix="pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle")
    return ds


def _frames(ds: Any) -> int:
    try:
        return int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        return 1


def dicom_is_grey(path: Path) -> bool:
    ds = dicom_header(path)
    return int(ds.get("SamplesPerPixel", 1) or 1) == 1 and ds.get("PhotometricInterpretation") != "PALETTE COLOR"


def read_dicom(path: Path, policy: Any = "auto") -> tuple[np.ndarray, tuple[str, str]]:
    """One DICOM file → uint8 ``(H, W)`` or ``(H, W, 3)`` and its tags (see the module docstring)."""
    pydicom = _pydicom()
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

    dicom_header(path)  # multi-frame, missing decoder: the clear message, before pixels are touched
    ds = pydicom.dcmread(path)
    try:
        raw = ds.pixel_array  # pydicom converts YBR to RGB
    except Exception as exc:  # noqa: BLE001 - decoder plugins raise their own kinds
        raise DataError(f"cannot decode the DICOM pixel data ({type(exc).__name__}: {exc})", file=path,
                        fix="check the file, or install the decoders: pip install pylibjpeg pylibjpeg-libjpeg "
                            "pylibjpeg-openjpeg pylibjpeg-rle") from None
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    bits = int(ds.get("BitsStored", 8 * raw.dtype.itemsize) or 8)
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(raw, ds)
        deep = rgb.dtype.itemsize > 1
        out, how = apply_policy(rgb, policy, 16 if deep else 8, path=path, deep=deep)
        return out, ("dicom", how)
    if raw.ndim == 3:  # colour (RGB after pydicom's YBR conversion)
        out, how = apply_policy(raw, policy, bits, path=path, deep=bits > 8)
        return out, ("dicom", how)
    name = policy_name(policy)
    if name == "bit_depth":
        # The stored range (BitsStored, signed or not) → 0–255; the modality LUT is linear or monotone
        # and would not change the picture's contrast, only its units.
        lo = -(2 ** (bits - 1)) if int(ds.get("PixelRepresentation", 0) or 0) else 0
        out, how = to_u8((raw.astype(np.float64) - lo) / (2.0 ** bits - 1)), "bit_depth"
    else:
        values = apply_modality_lut(raw, ds).astype(np.float64)  # rescale slope/intercept or Modality LUT
        if name == "window":
            out, how = window(values, *policy["window"]), "window"
        elif name == "auto" and "VOILUTSequence" in ds:
            lut = apply_voi_lut(values, ds, prefer_lut=True)
            lut_bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
            out, how = to_u8(lut.astype(np.float64) / (2.0 ** lut_bits - 1)), "file_voi_lut"
        elif name == "auto" and "WindowCenter" in ds and "WindowWidth" in ds:
            c, w = _first(ds.WindowCenter), _first(ds.WindowWidth)
            out, how = window(values, c, w, str(ds.get("VOILUTFunction", "LINEAR"))), "file_window"
        else:
            out, how = minmax(values), "minmax"
    if photometric == "MONOCHROME1":  # low values are white in MONOCHROME1: invert so bone is bright
        out = 255 - out
        how += "+inverted"
    return out, ("dicom", how)


def _first(v: Any) -> float:
    """A DICOM multi-valued element's first value (several windows may be stored; the first is the default)."""
    try:
        return float(v[0]) if not isinstance(v, (str, bytes)) and hasattr(v, "__getitem__") else float(v)
    except TypeError:
        return float(v)
