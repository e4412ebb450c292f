"""What the runner writes for "Why the models err" (explain.json + PNGs), checked on the real store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reportgen import store
from reportgen.explain.selection import fixed_sample
from reportgen.store import schema


def _cells(run: Path) -> list[Path]:
    return sorted(p for p in (run / "cells").iterdir() if (p / "result.json").is_file())


def test_every_cell_has_an_explain_record_with_every_field(real_store: Path) -> None:
    for cdir in _cells(real_store):
        data = json.loads((cdir / "explain.json").read_text(encoding="utf-8"))
        assert set(data) == set(schema.ExplainRecord.model_fields)
        rec = store.read_record(schema.ExplainRecord, cdir / "explain.json")
        for item in [*rec.mistakes, *rec.cam_items]:
            assert (cdir / item.image).is_file()
        assert all((cdir / it.cam).is_file() for it in rec.cam_items)
        assert rec.seconds < 30  # a few images only: it must add little to a cell


def test_confident_mistakes_are_the_top_k_wrong_by_stored_probability(real_store: Path) -> None:
    """Computed by hand from predictions_test.csv as stored: wrong = argmax ≠ label, ranked by that probability."""
    for cdir in _cells(real_store):
        rows = store.read_csv(cdir / "predictions_test.csv")
        wrong = []
        for r in rows:
            probs = [float(r[k]) for k in r if k.startswith("prob_")]
            pred = max(range(len(probs)), key=lambda j: (probs[j], -j))  # argmax, first index on a tie
            if pred != int(r["label"]):
                wrong.append((-probs[pred], int(r["index"]), r["sample_id"], int(r["label"]), pred, probs[pred]))
        wrong.sort()
        rec = store.read_record(schema.ExplainRecord, cdir / "explain.json")
        assert rec.n_wrong == len(wrong)
        expected = [(sid, true, pred, conf) for _, _, sid, true, pred, conf in wrong[:rec.mistakes_k]]
        assert [(m.sample_id, m.true, m.predicted, m.confidence) for m in rec.mistakes] == expected
        assert len(rec.mistakes) == min(rec.mistakes_k, len(wrong)) > 0


def test_grad_cam_images_are_the_same_for_every_strategy_and_seed(real_store: Path) -> None:
    recs = [store.read_record(schema.ExplainRecord, c / "explain.json") for c in _cells(real_store)]
    assert len(recs) == 6 and all(r.cam_status == "done" for r in recs), [(r.cam_status, r.cam_reason) for r in recs]
    ids = {tuple(it.sample_id for it in r.cam_items) for r in recs}
    assert len(ids) == 1
    (chosen,) = ids
    pred = store.read_predictions(_cells(real_store)[0] / "predictions_test.csv")
    # Two per class, by the hash of the sample id: both classes present, and reproducible from the ids alone.
    assert [pred.sample_id[i] for i in fixed_sample(pred.sample_id, pred.labels, per_class=2, num_classes=2)] \
        == list(chosen)
    assert sorted({int(pred.labels[pred.sample_id.index(s)]) for s in chosen}) == [0, 1]
    for r in recs:
        assert r.cam_target == "predicted" and r.cam_method == "GradCAM" and r.cam_layer == "extract_features()"
        for it in r.cam_items:
            assert it.target == it.predicted


def test_fixed_sample_does_not_depend_on_order_or_models() -> None:
    ids = [f"test[{i}]" for i in range(50)]
    labels = np.array([i % 3 for i in range(50)])
    a = fixed_sample(ids, labels, per_class=2, num_classes=3)
    perm = np.random.default_rng(0).permutation(50)
    b = fixed_sample([ids[i] for i in perm], labels[perm], per_class=2, num_classes=3)
    assert [ids[i] for i in a] == [ids[perm[i]] for i in b]
    assert [int(labels[i]) for i in a] == [0, 0, 1, 1, 2, 2]


def test_missing_grad_cam_package_is_a_skip_note_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With pytorch_grad_cam not importable, the cell still finishes; the report says how to get the CAMs."""
    import sys

    from realstore import build_store

    from reportgen.report import render_report

    monkeypatch.setitem(sys.modules, "pytorch_grad_cam", None)  # `import pytorch_grad_cam` raises ImportError
    run = build_store(tmp_path, name="nocam", strategies='["frozen"]', seeds="[0]", epochs=1)
    (cdir,) = _cells(run)
    rec = store.read_record(schema.ExplainRecord, cdir / "explain.json")
    assert rec.cam_status == "skipped" and "reportgen[explain]" in (rec.cam_reason or "")
    assert rec.cam_items == [] and rec.mistakes  # the gallery does not need the package
    written = render_report(run, lang="both")
    en = written["html:en"].read_text(encoding="utf-8")
    zh = written["html:zh-TW"].read_text(encoding="utf-8")
    assert "Grad-CAM skipped for" in en and "install reportgen[explain]" in en
    assert "未產生 Grad-CAM" in zh and "reportgen[explain]" in zh
    assert "Why the models err" in en and "The most confident test mistakes" in en


def test_multiclass_warmup_frozen_scratch_explain_the_same_images(real_multiclass_store: Path) -> None:
    """Three classes (Kermany JPEGs), warm-up / frozen / scratch: the CAM set has every class, the same ids in
    every cell, and each mistake's call is the stored one."""
    cells = _cells(real_multiclass_store)
    recs = {c.name: store.read_record(schema.ExplainRecord, c / "explain.json") for c in cells}
    assert {n.split("-")[2] for n in recs} == {"warmup", "frozen", "scratch"}
    ids = {tuple(it.sample_id for it in r.cam_items) for r in recs.values()}
    assert len(ids) == 1 and len(next(iter(ids))) == 3 * 2
    for name, rec in recs.items():
        assert rec.cam_status == "done", (name, rec.cam_reason)
        assert sorted({it.true for it in rec.cam_items}) == [0, 1, 2]
        pred = store.read_predictions(real_multiclass_store / "cells" / name / "predictions_test.csv")
        for m in rec.mistakes:
            assert m.true == pred.labels[m.index] != m.predicted == int(pred.probs[m.index].argmax())
            assert m.confidence == pred.probs[m.index].max()
