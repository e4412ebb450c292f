"""The store's one reader: ``load_run`` reads every record of a run once, typed, through the link checks, and the
report is built from what it returns alone (stores written by the real runner)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from reportgen.errors import StoreError
from reportgen.store import load_run
from reportgen.store.images import StoreImage
from reportgen.store.schema import AugmentPreview, CandidatesRecord, ExplainRecord, LayerSummary, SampleIndex


def _cell_dir(run: Path) -> Path:
    return sorted(p for p in (run / "cells").iterdir() if (p / "result.json").is_file())[0]


def test_every_record_is_loaded_typed(store_copy: Path) -> None:
    run = load_run(store_copy)
    assert isinstance(run.candidates, CandidatesRecord)
    assert run.experiment_toml == (store_copy / "experiment.toml").read_text(encoding="utf-8")
    assert set(run.samples) == {p.parent.name for p in (store_copy / "datasets").glob("*/samples.json")}
    assert all(isinstance(s, SampleIndex) for s in run.samples.values()) and run.samples
    for c in run.cells:
        assert isinstance(c.layers, LayerSummary) == (c.path / "layers.json").is_file()
        assert isinstance(c.explain, ExplainRecord) == (c.path / "explain.json").is_file()
        assert isinstance(c.augment_preview, AugmentPreview) == (c.path / "augment_preview.json").is_file()
        assert c.explain is not None
        for split in ("val", "test"):
            assert np.array_equal(c.predictions(split).labels,
                                  np.loadtxt(c.path / f"predictions_{split}.csv", delimiter=",", skiprows=1,
                                             usecols=2, dtype=int))
        for m in c.explain.mistakes:  # every PNG a record lists, resolved and stamped
            img = c.images[m.image]
            st = (c.path / m.image).stat()
            assert img.stamp == f"{st.st_size}:{st.st_mtime_ns}" and img.read() is not None
    for ds, index in run.samples.items():
        for x in index.samples:
            assert isinstance(run.images[f"datasets/{ds}/samples/{x.file}"], StoreImage)


def test_predictions_are_read_once_by_the_loader(store_copy: Path) -> None:
    run = load_run(store_copy)
    for p in store_copy.glob("cells/*/predictions_*.csv"):
        p.unlink()
    assert all(len(c.predictions("test").labels) == c.test.n for c in run.cells)


def test_the_report_is_built_from_the_loaded_run_alone(store_copy: Path) -> None:
    """Built once, then again after every record file of the store is deleted: the same report. A section that
    read or stat'ed a store file itself would fail or come out different."""
    from reportgen.describe.persist import ensure_description
    from reportgen.report.context import build_context

    run = load_run(store_copy)
    analysis = ensure_description(run)
    before = {lang: repr(build_context(run, analysis, lang).sections) for lang in ("en", "zh-TW")}
    # failed.json, too: a planned cell's state must come from the loaded run
    gone = [p for p in store_copy.rglob("*") if p.is_file() and p.suffix in (".json", ".csv", ".toml")]
    assert len(gone) > 20
    for p in gone:
        p.unlink()
    after = {lang: repr(build_context(run, analysis, lang).sections) for lang in ("en", "zh-TW")}
    assert after == before


def test_roc_figures_carry_the_stored_predictions_not_paths(store_copy: Path) -> None:
    from reportgen.describe.persist import ensure_description
    from reportgen.report.context import build_context
    from reportgen.report.figures.cache import job_key

    run = load_run(store_copy)
    ctx = build_context(run, ensure_description(run), "en")
    rocs = [f.job for f in ctx.figures if f.job[0] == "roc"]
    assert rocs
    by_strategy = {c.cell.strategy: c for c in run.cells if c.cell.seed == run.cells[0].cell.seed}
    for _, kw in rocs:
        for panel in kw["panels"]:
            for c in panel.get("cells", []):
                assert "path" not in c
                assert np.array_equal(c["probs"], by_strategy[c["strategy"]].predictions("test").probs)
    # The cache key follows the arrays' content: one changed probability, another key.
    kind, kw = rocs[0]
    cell = kw["panels"][0]["cells"][0]
    probs = cell["probs"].copy()
    probs[-1, ::-1] = probs[-1]
    changed = (kind, {**kw, "panels": [{**kw["panels"][0], "cells": [{**cell, "probs": probs}]}]})
    assert job_key(rocs[0], "f") != job_key(changed, "f")


def test_a_linked_optional_record_is_refused_not_followed(store_copy: Path, tmp_path: Path) -> None:
    cell = _cell_dir(store_copy)
    outside = tmp_path / "layers.json"
    outside.write_bytes((cell / "layers.json").read_bytes())
    (cell / "layers.json").unlink()
    (cell / "layers.json").symlink_to(outside)
    with pytest.raises(StoreError, match="symbolic link.*refusing to read"):
        load_run(store_copy)


def test_an_explain_record_cannot_name_a_file_outside_its_cell(store_copy: Path) -> None:
    cell = _cell_dir(store_copy)
    raw = json.loads((cell / "explain.json").read_text(encoding="utf-8"))
    raw["mistakes"][0]["image"] = "../../../experiment.toml"
    (cell / "explain.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(StoreError, match="not a PNG file name inside the cell folder") as exc:
        load_run(store_copy)
    assert "explain.json" in str(exc.value) and "mistakes.0.image" in str(exc.value)


def test_a_failed_cell_is_noted_by_the_loader(store_copy: Path) -> None:
    cell = _cell_dir(store_copy)
    (cell / "result.json").unlink()
    (cell / "failed.json").write_text('{"error": "boom"}', encoding="utf-8")
    run = load_run(store_copy)
    assert run.failed == {cell.name} and cell.name in run.missing
    os.remove(cell / "failed.json")
    assert load_run(store_copy).failed == set()
