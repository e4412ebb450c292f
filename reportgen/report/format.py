"""Number and text formatting for the report: every number is formatted here, never in a template.

Percentages never round up to 100.0 (or down to 0.0) when the value is not exactly that, p-values read
"p < 0.001" / "p = 0.012", and a missing value is "n/a" — so a number shown is never more certain than
the number stored.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape

from ..registry import metrics as metric_registry

NA = "n/a"


# --------------------------------------------------------------------------- number formatting
def _guard(text: str, value: float, digits: int, top: float) -> str:
    """Never show the top (100.0 / 1.000) or zero for a value that is not exactly that."""
    step = 10.0 ** -digits
    if text == f"{top:.{digits}f}" and value < top:
        return f"{top - step:.{digits}f}"
    if float(text) == 0.0 and value > 0:
        return f"{step:.{digits}f}"
    return text


def pct(x: float | None, digits: int = 1) -> str:
    """0.8734 → "87.3" (percent points, no sign); None → "n/a"; 0.9996 → "99.9", never "100.0"."""
    if x is None:
        return NA
    return _guard(f"{x * 100:.{digits}f}", x * 100, digits, 100.0)


def dec(x: float | None, digits: int = 3) -> str:
    """A score in [0, 1] as a decimal (AUC, ECE); 0.99996 → "0.999", never "1.000"."""
    if x is None:
        return NA
    return _guard(f"{x:.{digits}f}", x, digits, 1.0)


def _interval(ci: Any, end, pattern: str) -> str:
    """Both ends of a stored CI through ``end``, or "n/a" when either is missing."""
    if not ci or ci[0] is None or ci[1] is None:
        return NA
    return pattern.format(end(ci[0]), end(ci[1]))


def pct_ci(ci: Any, digits: int = 1) -> str:
    return _interval(ci, lambda x: pct(x, digits), "{}–{}")


def dec_ci(ci: Any, digits: int = 3) -> str:
    return _interval(ci, lambda x: dec(x, digits), "{}–{}")


def _signed_bound(x: float, digits: int) -> str:
    """One end of a difference's interval, always signed, with a true minus sign; an end that is not zero
    never prints as zero (it would read as touching 0, the line a reader checks), so it gains a digit."""
    x = x + 0.0  # −0.0 (an identical pair's bound) prints as +0.0
    text = f"{x:+.{digits}f}"
    if x != 0 and float(text) == 0.0:
        text = f"{x:+.{digits + 1}f}"
    return text.replace("-", "\u2212")


def table_diff(va: float | None, vb: float | None) -> float | None:
    """The difference of two percentages as the tables print them (the difference of the rounded values), so a
    sentence's "difference 4.8 points" is what a reader gets by subtracting the two numbers shown."""
    if va is None or vb is None:
        return None
    return float(pct(va)) - float(pct(vb))


def signed_points(diff: float | None, digits: int = 1) -> str:
    """A difference already in points, in prose: "+6.1", "−1.8" (a true minus sign, as the CIs beside it)."""
    return NA if diff is None else _signed_bound(diff, digits)


def points_ci(ci: Any, digits: int = 1) -> str:
    """The CI of a difference in percentage points: "[−4.0, +4.1]". A range written "-4.0–4.1" reads as a
    hyphen fight; brackets and signs say where zero falls."""
    return _interval(ci, lambda x: _signed_bound(x * 100, digits), "[{}, {}]")


def signed_ci(ci: Any, digits: int = 3) -> str:
    """The CI of a difference of scores (AUC, kappa): "[−0.021, +0.044]"."""
    return _interval(ci, lambda x: _signed_bound(x, digits), "[{}, {}]")


def points(diff: float | None, digits: int = 1) -> str:
    """A difference of two proportions in percentage points, signed: +7.1."""
    return NA if diff is None else f"{diff * 100:+.{digits}f}"


def signed(diff: float | None, digits: int = 3) -> str:
    return NA if diff is None else f"{diff:+.{digits}f}"


def metric_formatters(name: str):
    """``(value, ci, difference)`` formatters of a registry metric: percent points or a three-decimal score."""
    return (dec, dec_ci, signed) if metric_registry.get(name).fmt == "dec" else (pct, pct_ci, points)


def pvalue(p: float | None) -> str:
    """A p-value as a phrase: "p < 0.001", "p = 0.012", "p = 0.43" (a bare "= < 0.001" never appears)."""
    if p is None:
        return f"p = {NA}"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def count(n: float | None) -> str:
    return NA if n is None else f"{int(n):,}"


def params(n: float | None) -> str:
    """Parameter counts: 11.18 M, 2.6 k."""
    if n is None:
        return NA
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} k"
    return str(int(n))


def macs(n: float | None) -> str:
    """Multiply–accumulate operations in G (10⁹), three significant digits."""
    return NA if n is None else f"{n / 1e9:.3g} G"


def megabytes(x: float | None) -> str:
    return NA if x is None else f"{x:,.1f} MB"


def seconds(s: float | None) -> str:
    if s is None:
        return NA
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        minutes, secs = divmod(round(s), 60)
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(round(s / 60), 60)
    return f"{hours} h {minutes:02d} min"


def plain(v: Any) -> str:
    """A config value as text: None → n/a, bools lower-case like TOML, floats short."""
    if v is None:
        return NA
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={plain(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(plain(x) for x in v)
    return str(v)


# --------------------------------------------------------------------------- minimal Markdown
_BULLET = re.compile(r"^\s*[-*+]\s+")


_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_FULL = "\u3000-\u303f\uff00-\uffef"  # full-width punctuation and forms


def join_lines(lines: Any) -> str:
    """A paragraph's source lines as one line. Chinese puts no space between two characters nor beside full-width
    punctuation, so a line wrapped there in the TOML is joined without one; elsewhere (Latin text, or Chinese
    beside Latin, the zh-TW spacing rule) with a space."""
    out = ""
    for ln in lines:
        if out:
            left, right = out[-1], ln[0]
            both_han = re.match(f"[{_HAN}]", left) and re.match(f"[{_HAN}]", right)
            full = re.match(f"[{_FULL}]", left) or re.match(f"[{_FULL}]", right)
            out += "" if both_han or full else " "
        out += ln
    return out


def markdown(text: str) -> Markup:
    """User notes → safe HTML: paragraphs, ``**bold**``, ``*italic*``, ``- `` lists. HTML is escaped."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.rstrip() for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue

        def inline(s: str) -> str:
            s = str(escape(s))
            s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
            return re.sub(r"(?<!\*)\*(?!\s)(.+?)(?<!\s)\*", r"<em>\1</em>", s)

        if all(_BULLET.match(ln) for ln in lines):
            items = "".join(f"<li>{inline(_BULLET.sub('', ln))}</li>" for ln in lines)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{inline(join_lines(ln.strip() for ln in lines))}</p>")
    return Markup("".join(out))

