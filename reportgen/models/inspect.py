"""``reportgen inspect BACKBONE``: a backbone's architecture statistics as a two-column terminal table."""

from __future__ import annotations

from typing import Any

from torch import nn

from .stats import arch_stats, aux_head_params
from .weights_meta import weights_meta_for


def build_for_inspect(backbone_name: str, *, size: int = 224) -> nn.Module:
    """The backbone as reportgen builds it (random init, original 1000-class head, no auxiliary heads)."""
    from .backbones import WeightsChoice, build_base, check_backbone_name

    check_backbone_name(backbone_name, key="BACKBONE")
    return build_base(backbone_name, WeightsChoice("none"), input_size=size)


def inspect_table(backbone_name: str, *, size: int = 224) -> dict[str, Any]:
    """Architecture statistics of a backbone with randomly initialised weights and its DEFAULT metadata."""
    model = build_for_inspect(backbone_name, size=size)
    meta = weights_meta_for(backbone_name, "DEFAULT")
    return {"backbone": backbone_name, **arch_stats(model, input_size=size, weights=meta,
                                                     aux_params=aux_head_params(backbone_name))}


def _fmt_int(n: int | None) -> str:
    return "n/a" if n is None else f"{n:,}"


def _fmt_g(n: float | None, unit: str = "G") -> str:
    return "n/a" if n is None else f"{n / 1e9:.3f} {unit}"


def _fmt_opt(v: object) -> str:
    return "n/a" if v is None else str(v)


def _diff(counted: float | None, published: float | None) -> str:
    if counted is None or not published:
        return "n/a"
    return f"{(counted - published) / published:+.1%}"


def _rows(d: dict[str, Any]) -> list[tuple[str, str]]:
    h, w = d["input_size"]
    meta = d.get("imagenet") or {}
    tool = {"fvcore": "fvcore", "flop_counter": "FlopCounterMode"}.get(d.get("macs_tool") or "", "none")
    rows = [
        ("backbone", str(d.get("backbone", "?"))),
        ("input size", f"{h}×{w}"),
        ("params total (counted)", _fmt_int(d["params_total"])),
    ]
    if d.get("params_published") is not None:
        rows += [("params published", _fmt_int(d["params_published"])),
                 ("params difference", f"{d['params_total'] - d['params_published']:+,}")]
    if d.get("params_note"):
        rows.append(("params note", d["params_note"]))
    rows += [
        ("params trainable", _fmt_int(d["params_trainable"])),
        ("params frozen", _fmt_int(d["params_frozen"])),
        ("param memory", f"{d['param_bytes'] / 2**20:.1f} MiB"),
        (f"MACs @{h}px (shown: {tool})", _fmt_g(d["macs"], "GMACs")),
        (f"MACs @{h}px (fvcore)", _fmt_g(d.get("macs_fvcore"), "GMACs")),
        (f"MACs @{h}px (FlopCounterMode / 2)", _fmt_g(d.get("macs_counter"), "GMACs")),
        (f"MACs @{h}px (torchinfo)", _fmt_g(d["macs_torchinfo"], "GMACs")),
    ]
    if d.get("macs_unsupported_ops"):
        ops = ", ".join(f"{k}×{v}" for k, v in d["macs_unsupported_ops"].items())
        rows.append(("not counted by fvcore", ops))
    for tool_name, reason in (d.get("macs_errors") or {}).items():
        rows.append((f"{tool_name} failed (note, not a count)", reason))
    if d.get("macs_published") is not None:
        size = d["published_size"]
        rows += [(f"MACs @{size}px counted", _fmt_g(d.get("macs_at_published_size"), "GMACs")),
                 (f"MACs @{size}px published", _fmt_g(d["macs_published"], "GMACs")),
                 ("MACs difference", _diff(d.get("macs_at_published_size"), d["macs_published"]))]
    if meta:
        rows += [
            ("ImageNet weights", str(meta.get("name"))),
            ("ImageNet acc@1 / acc@5", f"{_fmt_opt(meta.get('acc1'))} / {_fmt_opt(meta.get('acc5'))}"),
            ("weights file", "n/a" if meta.get("file_size_mb") is None else f"{meta['file_size_mb']:.1f} MB"),
        ]
        if meta.get("min_size"):
            rows.append(("min input size", "×".join(str(v) for v in meta["min_size"])))
    return rows


def format_inspect(d: dict[str, Any]) -> str:
    """A two-column plain-text table of :func:`inspect_table`'s result, for the terminal."""
    rows = _rows(d)
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
