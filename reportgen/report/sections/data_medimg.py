"""The data section's medical-imaging facts: the intensity policy, the patient groups, the MedMNIST file.

Everything comes from ``datasets/<name>.json`` (``intensity``, ``groups``, ``medmnist``, ``val_split.grouped``,
written by ``reportgen.data``); wording from the ``medimg`` catalogs. Stores written before these fields
existed show nothing here rather than a guess.
"""

from __future__ import annotations

from typing import Any

from ...i18n import t
from ..builder import Builder
from ..format import count, pct
from ..model import Paragraph, Section

_MAPS = ("as_stored", "minmax", "bit_depth", "window", "file_window", "file_voi_lut")


def _tr(b: Builder, key: str, **values: Any) -> str:
    return t(b.lang, f"report.medimg.{key}", **values)


def _sep(b: Builder) -> str:
    """Between sentences: a space in English, nothing after Chinese full-width punctuation."""
    return "" if b.lang.startswith("zh") else " "


def _num(v: float) -> str:
    return f"{v:g}"


def add(b: Builder, sec: Section, facts: Any) -> None:
    """Append the dataset's medical-imaging sentences to the data section."""
    if facts.medmnist:
        m = facts.medmnist
        sec.blocks.append(Paragraph(_tr(b, "medmnist", file=m.get("file"), size=m.get("size"))))
    intensity_sentences(b, sec, facts.intensity)
    group_sentences(b, sec, facts)


def census_parts(b: Builder, census: dict) -> tuple[int, str, str, int]:
    """``(images, "8-bit 120, DICOM 4", "as stored 120, …", inverted)`` from a decode census."""
    sources = census.get("source") or {}
    mapping: dict[str, int] = {}
    inverted = 0
    for tag, n in (census.get("mapping") or {}).items():
        base, _, extra = tag.partition("+")
        mapping[base] = mapping.get(base, 0) + n
        inverted += n if extra == "inverted" else 0

    def label(kind: str, tag: str) -> str:
        key = f"report.medimg.{kind}.{tag}"
        return t(b.lang, key) if kind == "map" or tag in ("float", "dicom") else tag  # "16-bit" reads the same

    src = b.join(_tr(b, "count", label=label("src", s), n=count(n)) for s, n in sorted(sources.items()))
    maps = b.join(_tr(b, "count", label=label("map", m), n=count(n))
                  for m, n in sorted(mapping.items(), key=lambda kv: _MAPS.index(kv[0]) if kv[0] in _MAPS else 99))
    return sum(sources.values()), src, maps, inverted


def intensity_sentences(b: Builder, sec: Section, rec: dict | None) -> None:
    if not rec:
        return
    policy = rec.get("policy", "auto")
    window = rec.get("window") or [None, None]
    text = _tr(b, f"intensity.{policy}", **({"centre": _num(window[0]), "width": _num(window[1])}
                                            if policy == "window" else {}))
    census = rec.get("census")
    if census:
        n, src, maps, inverted = census_parts(b, census)
        text += _sep(b) + _tr(b, "census", n=count(n), sources=src, mappings=maps)
        if inverted:
            text += _sep(b) + _tr(b, "inverted", n=count(inverted))
    sec.blocks.append(Paragraph(text))


def group_sentences(b: Builder, sec: Section, facts: Any) -> None:
    g = facts.groups
    if not g:
        return
    parts = [_tr(b, f"groups.{g.get('by', 'pattern')}", rule=g.get("rule", ""))]
    per_split = b.join(f"{b.tr(f'split.{s}')} {count(n)}" for s, n in (g.get("per_split") or {}).items())
    pairs = b.join(f"{_pair(b, k)} {count(v)}" for k, v in (g.get("overlap") or {}).items() if v)
    wrap = "（{}）" if b.lang.startswith("zh") else " ({})"
    parts.append(_tr(b, "groups.counts", per_split=per_split, in_several=count(g.get("in_several", 0)),
                     pairs=wrap.format(pairs) if pairs else ""))
    grouped = facts.val_split.grouped if facts.val_split is not None else None
    if grouped:
        parts.append(_tr(b, "groups.carved", method=grouped.get("method", ""), groups_val=count(grouped.get("groups_val")),
                         groups_total=count(grouped.get("groups_total")),
                         share=f"{pct(grouped.get('fraction_actual'))}%"))
    if "train–val" in (g.get("overlap") or {}) and g["overlap"]["train–val"] == 0:
        parts.append(_tr(b, "groups.train_val_clean"))
    sec.blocks.append(Paragraph(_sep(b).join(parts)))


def _pair(b: Builder, key: str) -> str:
    """ "train–test" → the two split names in the reader's language."""
    a, _, c = key.partition("–")
    return f"{b.tr(f'split.{a}')}–{b.tr(f'split.{c}')}"
