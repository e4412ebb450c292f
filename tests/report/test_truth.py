"""One truth: every number the report shows is the number stored, and the number stored is what the
stored predictions give. All on stores written by the real runner."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from reportgen.cli import cli
from reportgen.describe.consistency import check_run, score_cell
from reportgen.report import render_report
from reportgen.report.format import dec, pct
from reportgen.store import load_run, read_json, read_predictions, schema, write_predictions, write_record

DOCS = Path(__file__).resolve().parents[2] / "docs" / "results-store.md"


def test_auc_recomputed_with_sklearn_equals_metrics_json(real_store: Path) -> None:
    run = load_run(real_store)
    assert len(run.cells) == 6
    for c in run.cells:
        pred = c.predictions("test")
        assert abs(roc_auc_score(pred.labels, pred.probs[:, 1]) - c.test.auc) < 1e-6, c.id
        assert abs(float(np.mean(pred.probs.argmax(1) == pred.labels)) - c.test.accuracy) < 1e-12
        assert c.result.test["auc"] == c.test.auc


def test_store_is_consistent_and_comparisons_use_the_cells_metrics(store_copy: Path) -> None:
    from reportgen.describe.persist import ensure_description

    run = load_run(store_copy)
    comparisons = ensure_description(run).comparisons
    assert comparisons
    assert check_run(run, comparisons) == []
    by_id = {c.id: c for c in run.cells}
    for row in comparisons:
        for metric in ("macro_f1", "auc", "accuracy"):
            part = getattr(row, metric)
            if part.value_a is None:
                continue
            a, b = by_id[row.a].test, by_id[row.b].test
            assert part.value_a == pytest.approx(getattr(a, metric), abs=1e-9)
            assert part.value_b == pytest.approx(getattr(b, metric), abs=1e-9)
            assert part.diff == pytest.approx(getattr(a, metric) - getattr(b, metric), abs=1e-9)


def test_predictions_round_trip_exactly_and_name_their_samples(tmp_path: Path, real_store: Path) -> None:
    cell = next((real_store / "cells").iterdir())
    pred = read_predictions(cell / "predictions_test.csv")
    assert pred.sample_id[:2] == ["test[0]", "test[1]"] and len(set(pred.sample_id)) == len(pred.sample_id)
    # Values a 6-digit CSV would have merged stay distinct and exact.
    probs = np.array([[0.5 - 1e-9, 0.5 + 1e-9], [0.5 - 2e-9, 0.5 + 2e-9], [1 / 3, 2 / 3]])
    write_predictions(tmp_path / "p.csv", np.array([0, 1, 1]), probs, ["a", "b", "c"])
    back = read_predictions(tmp_path / "p.csv")
    assert np.array_equal(back.probs, probs) and back.sample_id == ["a", "b", "c"]


def test_results_tables_show_the_stored_numbers(rendered) -> None:
    run = load_run(rendered["run"])
    html = rendered["en"]
    from reportgen.describe.facts import is_degenerate, score_spread

    for c in run.cells:
        m = c.test
        # Scores that do not vary get no AUC (marked ‡): a number from float noise is not credited.
        auc = "—‡" if is_degenerate(*score_spread(c.predictions("test").probs)) else dec(m.auc)
        for text in (pct(m.accuracy), pct(m.macro_f1), auc, pct(m.balanced_accuracy)):
            assert f">{text}<" in html, (c.id, text)
    assert "p = &lt;" not in html and "p = <" not in html
    assert "Preprocessing (every split): n/a" not in html and "(training only): n/a" not in html
    assert "resize to 32×32 px" in html


def _corrupt_one_probability(run_dir: Path) -> str:
    cell = next(p for p in sorted((run_dir / "cells").iterdir()) if "-frozen-s0-" in p.name)
    path = cell / "predictions_test.csv"
    lines = path.read_text().splitlines()
    fields = lines[1].split(",")
    p1 = float(fields[-1])
    fields[-2], fields[-1] = repr(p1), repr(1 - p1)  # flip the first test image's call
    lines[1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    return cell.name


def test_check_and_render_refuse_a_tampered_probability(store_copy: Path) -> None:
    ok = CliRunner().invoke(cli, ["check", str(store_copy)])
    assert ok.exit_code == 0, ok.output
    assert "ok: 6 cells" in ok.output
    bad_cell = _corrupt_one_probability(store_copy)
    bad = CliRunner().invoke(cli, ["check", str(store_copy)])
    assert bad.exit_code == 2, bad.output
    assert bad_cell in bad.output and "metrics.json test.accuracy" in bad.output
    assert "Traceback" not in bad.output
    rendered = CliRunner().invoke(cli, ["render", str(store_copy), "--lang", "en"])
    assert rendered.exit_code == 2 and bad_cell in rendered.output
    assert not (store_copy / "report.en.html").exists() and not (store_copy / "report.html").exists()


# --------------------------------------------------------------------------- one schema
FILES = {"cell.json": schema.CellRecord, "env.json": schema.EnvRecord, "data.json": schema.DataRecord,
         "arch.json": schema.ArchRecord, "metrics.json": schema.MetricsRecord, "result.json": schema.ResultRecord}


def _all_keys(model: type[schema.Record]) -> set[str]:
    return set(model.model_fields)


@pytest.mark.parametrize("name", sorted(FILES))
def test_runner_writes_every_field_the_schema_declares(real_store: Path, name: str) -> None:
    """The report reads typed fields only; every field is in every file the runner wrote, so the report
    can never read a key the runner does not write (a missing one would be a silent default)."""
    for cell in (real_store / "cells").iterdir():
        data = read_json(cell / name)
        assert set(data) == _all_keys(FILES[name]), (cell.name, set(data) ^ _all_keys(FILES[name]))
    run = read_json(real_store / "run.json")
    assert set(run) == _all_keys(schema.RunRecord)
    facts = read_json(real_store / "datasets" / "pneumoniamnist.json")
    assert set(facts) == _all_keys(schema.DatasetFacts)
    header = (next((real_store / "cells").iterdir()) / "epochs.csv").read_text().splitlines()[0].split(",")
    assert header == list(schema.EpochRow.model_fields)


def test_metrics_split_has_every_field(real_store: Path) -> None:
    cell = next((real_store / "cells").iterdir())
    m = read_json(cell / "metrics.json")
    for split in ("val", "test"):
        assert set(m[split]) == _all_keys(schema.SplitMetrics)


def test_docs_list_every_field_of_every_record() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for model in schema.RECORDS:
        for name in model.model_fields:
            assert re.search(rf"\b{re.escape(name)}\b", text), f"{model.__name__}.{name} missing from {DOCS.name}"
    assert f"schema {schema.SCHEMA}" in text


def test_a_store_file_missing_a_key_is_a_clear_store_error(store_copy: Path) -> None:
    cell = next((store_copy / "cells").iterdir())
    data = read_json(cell / "result.json")
    del data["best_epoch"]
    (cell / "result.json").write_text(json.dumps(data))
    res = CliRunner().invoke(cli, ["render", str(store_copy), "--lang", "en"])
    assert res.exit_code == 2 and "result.json" in res.output and "best_epoch" in res.output
    assert "Traceback" not in res.output


# --------------------------------------------------------------------------- collapsed cells
def _make_collapsed(run_dir: Path) -> str:
    """Rewrite one cell as a model that answers "pneumonia" for every image, scored by the real scorer."""
    cell = next(p for p in sorted((run_dir / "cells").iterdir()) if "-scratch-s0-" in p.name)
    classes = read_json(cell / "cell.json")["classes"]
    preds = {}
    for split in ("val", "test"):
        pred = read_predictions(cell / f"predictions_{split}.csv")
        rng = np.random.default_rng(0)
        p1 = 0.7 + 1e-6 * rng.random(len(pred.labels))
        probs = np.stack([1 - p1, p1], axis=1)
        write_predictions(cell / f"predictions_{split}.csv", pred.labels, probs, pred.sample_id)
        preds[split] = read_predictions(cell / f"predictions_{split}.csv")
    summ = score_cell(preds["val"], preds["test"], classes=classes, seed=0, n_boot=50)
    write_record(cell / "metrics.json", summ)
    result = read_json(cell / "result.json")
    result["test"] = {m: getattr(summ.test, m) for m in schema.HEADLINE}
    (cell / "result.json").write_text(json.dumps(result))
    return cell.name


def test_a_collapsed_cell_is_a_finding_and_never_a_baseline_win(store_copy: Path) -> None:
    from reportgen.describe.checks import run_checks

    name = _make_collapsed(store_copy)
    found = [f for f in run_checks(load_run(store_copy)) if f.id == "collapsed"]
    assert [f.scope["cell_id"] for f in found if f.scope["cell_id"] == name] == [name]
    assert found[0].severity == "high"
    html = render_report(store_copy, lang="both")
    en = html["html:en"].read_text(encoding="utf-8")
    zh = html["html:zh-TW"].read_text(encoding="utf-8")
    assert "Collapsed model" in en and "collapsed †" in en
    assert re.search(r"Training from scratch collapsed", en)
    assert not re.search(r"beat Training from scratch by", en)
    assert "崩潰" in zh


# --------------------------------------------------------------------------- honest sentences
def test_sentences_follow_the_facts(rendered) -> None:
    en, zh = rendered["en"], rendered["zh"]
    # PneumoniaMNIST is grayscale, its official val split (524) is large, the input (32 px) is small.
    if "Fine-tuning gave the highest" in en:
        assert "these grayscale images" in en
    assert "The validation set has" not in en  # "only N images" only below the small-val threshold
    assert "smaller than the size their ImageNet weights were evaluated at (EfficientNet-Lite0: 224 px)" in en
    assert "chest X-rays" not in en  # no modality is declared in this experiment
    assert "160 of 4,708 available training images" in en and "160 of the 4,708 training images" in en
    assert "巨觀平均" not in zh and "個訓練" not in zh and "Macro F1 分數" not in zh
    assert "efficientnet_lite0 " not in en.split("Appendix")[0].replace("cells/", "")  # labels, not identifiers


@pytest.mark.slow  # a 224 px run: about two minutes on 2 cores
def test_rgb_and_large_input_change_the_sentences(tmp_path: Path) -> None:
    from realstore import build_store

    run = build_store(tmp_path, name="rgb", strategies='["finetune"]', seeds="[0]", size=224, n_train=32, epochs=1,
                      dataset_extra='color = "rgb"\nmodality = "chest X-ray"')
    html = render_report(run, lang="en")["html:en"].read_text(encoding="utf-8")
    assert "grayscale" not in html.split("Discussion")[-1]
    assert "smaller than the size their ImageNet weights" not in html


def test_renderable_after_tamper_is_refused_even_with_cached_analysis(store_copy: Path) -> None:
    render_report(store_copy, lang="en")
    _corrupt_one_probability(store_copy)
    shutil.rmtree(store_copy / "figures", ignore_errors=True)
    res = CliRunner().invoke(cli, ["render", str(store_copy), "--lang", "en"])
    assert res.exit_code == 2
