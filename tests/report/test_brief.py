"""The concise report (`render --brief`, `[report] detail = "brief"`): what a grader reads stays, logs go.

Built on a store written by the real runner: the brief report keeps every result table, comparison and
figure of the full one, and leaves out the per-epoch logs, per-layer tables, the run list and the TOML,
saying where they are.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.config import load_experiment
from reportgen.describe.persist import ensure_description
from reportgen.errors import ConfigError
from reportgen.report.context import build_context
from reportgen.report.model import Code, Figure, Table
from reportgen.store import load_run

LEFT_OUT = ("epochs-", "layers-", "cells")
# One backbone (this store): the brief report also leaves out the per-seed rows (said where they are), the pivots
# (each one row of the comparison table, which their citations name instead) and the comparison's overlay figure
# (the strategies' curves already share one figure in the results).
BRIEF_ONLY_OUT = ("seedruns:", "pivot:")
FIGURES_OUT = ("overlay:",)


def _blocks(ctx, kind):
    return [b for s in ctx.sections for b in s.blocks if isinstance(b, kind)]


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_brief_keeps_results_and_figures_and_leaves_out_logs(store_copy: Path, lang: str) -> None:
    run = load_run(store_copy)
    analysis = ensure_description(run)
    full = build_context(run, analysis, lang)
    brief = build_context(run, analysis, lang, detail="brief")
    full_refs = [t.ref for t in _blocks(full, Table)]
    brief_refs = [t.ref for t in _blocks(brief, Table)]
    assert any(r.startswith("epochs-") for r in full_refs) and any(r.startswith("layers-") for r in full_refs)
    assert brief_refs == [r for r in full_refs if not r.startswith(LEFT_OUT + BRIEF_ONLY_OUT)]
    assert [f.ref for f in _blocks(brief, Figure)] == [f.ref for f in _blocks(full, Figure)
                                                       if not f.ref.startswith(FIGURES_OUT)]
    assert _blocks(full, Code) and not _blocks(brief, Code)
    # The tables kept are the same tables (numbered afresh in reading order).
    kept = {t.ref: t for t in _blocks(full, Table)}
    for t in _blocks(brief, Table):
        assert [[c.text for c in row] for row in t.rows] == [[c.text for c in row] for row in kept[t.ref].rows]
    assert [t.number for t in _blocks(brief, Table)] == list(range(1, len(brief_refs) + 1))
    text = " ".join(p.text for s in brief.sections for p in s.blocks if hasattr(p, "text") and isinstance(p.text, str))
    rows = sum(len(c.epochs) for c in run.cells)
    assert (f"{rows} rows" if lang == "en" else f"共 {rows} 列") in text
    assert "epochs.csv" in text and "layers.json" in text and "--brief" in text


def test_detail_key_in_the_toml_and_run_json(store_copy: Path, tmp_path: Path) -> None:
    run = load_run(store_copy)
    meta = json.loads((store_copy / "run.json").read_text(encoding="utf-8"))
    meta["experiment"]["report"]["detail"] = "brief"
    (store_copy / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    run = load_run(store_copy)
    ctx = build_context(run, ensure_description(run), "en")
    assert not any(t.ref.startswith(LEFT_OUT) for t in _blocks(ctx, Table))
    assert any(t.ref.startswith("epochs-") for t in _blocks(build_context(run, ensure_description(run), "en",
                                                                           detail="full"), Table))
    toml = (store_copy / "experiment.toml").read_text(encoding="utf-8")
    good = tmp_path / "good.toml"
    good.write_text(toml.replace("[report]", '[report]\ndetail = "brief"', 1), encoding="utf-8")
    assert load_experiment(good).report["detail"] == "brief"
    bad = tmp_path / "bad.toml"
    bad.write_text(toml.replace("[report]", '[report]\ndetail = "short"', 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="detail"):
        load_experiment(bad)


def test_render_brief_option_is_passed_through(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from reportgen.report import render as render_mod
    from reportgen.report.command import render

    seen = {}
    monkeypatch.setattr(render_mod, "render_report", lambda run_dir, **kw: seen.update(kw) or {})
    assert CliRunner().invoke(render, [str(tmp_path), "--brief", "--docx"]).exit_code == 0
    assert seen["detail"] == "brief" and seen["docx"] is True
    assert CliRunner().invoke(render, [str(tmp_path)]).exit_code == 0
    assert seen["detail"] is None and seen["docx"] is False
