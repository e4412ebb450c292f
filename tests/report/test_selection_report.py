"""Model selection in the rendered report, on stores written by the real runner: the candidate table
(chosen marked), the head replacement, parameters per strategy and the per-layer summaries."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torchvision
from click.testing import CliRunner
from realstore import section_builder
from tinyexp import tiny_experiment

from reportgen.cli import cli
from reportgen.report import render_report
from reportgen.report.builder import Builder
from reportgen.report.sections import back, front
from reportgen.store import load_run, read_record
from reportgen.store.schema import CandidatesRecord, LayerSummary


def _builder(run_dir: Path, lang: str = "en") -> Builder:
    return section_builder(run_dir, lang, front.model_selection, back.appendix)


def _tables(b: Builder) -> dict[str, object]:
    return {ref: el for ref, el in b.refs.items() if getattr(el, "kind", "") == "table"}


def test_real_store_has_a_layer_summary_per_cell_and_the_report_shows_them(store_copy: Path) -> None:
    run = load_run(store_copy)
    for c in run.cells:
        s = read_record(LayerSummary, c.path / "layers.json")
        assert s.error is None and s.rows and s.backbone == "efficientnet_lite0"
        assert s.params_total == c.arch.params_total
        if c.cell.strategy == "frozen":
            assert s.params_trainable == c.arch.params_trainable < c.arch.params_total
    tables = _tables(_builder(store_copy))
    # fine-tune and scratch train every layer (one table); frozen's trainable column differs (its own table).
    layer_refs = sorted(r for r in tables if r.startswith("layers-"))
    assert layer_refs == ["layers-efficientnet-lite0", "layers-efficientnet-lite0-frozen"]  # keys, not labels
    frozen = tables["layers-efficientnet-lite0-frozen"]
    names = [row[0].text for row in frozen.rows]
    assert "_fc" in names and "· _blocks.15" in names
    fc = next(row for row in frozen.rows if row[0].text == "_fc")
    head = next(c for c in run.cells if c.cell.strategy == "frozen").arch
    assert fc[3].text == fc[4].text == f"{head.params_trainable:,}"  # only the head trains
    assert all(row[4].text == "0" for row in frozen.rows if row[0].text not in ("_fc", "Total"))


def test_params_by_strategy_and_head_replacement_equal_arch_json(store_copy: Path) -> None:
    run = load_run(store_copy)
    b = _builder(store_copy)
    table = _tables(b)["params-by-strategy"]
    by_strategy = {row[1].text: row for row in table.rows}
    for c in run.cells:
        row = by_strategy[b.strategy_name(c.cell.strategy)]
        assert [row[2].text, row[3].text, row[4].text] == [
            f"{c.arch.params_total:,}", f"{c.arch.params_trainable:,}", f"{c.arch.params_frozen:,}"]
    arch = run.cells[0].arch
    text = " ".join(blk.text for sec in b.sections for blk in sec.blocks if getattr(blk, "kind", "") == "paragraph")
    assert f"{arch.head}: {arch.head_in_features} → {arch.head_out_features}" in text  # "_fc: 1280 → 2"


@pytest.fixture(scope="module")
def candidate_store(tmp_path_factory) -> Path:
    """A one-cell run declaring candidates, trained while torchinfo fails (it must be recorded, not raised)."""
    import torchinfo

    root = tmp_path_factory.mktemp("candidates")
    toml = tiny_experiment(root, file="cand.toml", name="cand", strategies=["frozen"],
                           report={"language": "both",
                                   "candidates": ["resnet18", "efficientnet_lite0", "efficientnet_b0"]},
                           dataset={"name": "pneumoniamnist", "max_train_samples": 120}, train_base={},
                           train={"epochs": 1, "scheduler": "none"})

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("torchinfo cannot trace this model")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torchinfo, "summary", boom)
        res = CliRunner().invoke(cli, ["run", str(toml), "--no-progress", "--no-checkpoints"])
    assert res.exit_code == 0, res.output
    return root / "runs" / "cand"


def test_candidate_table_marks_the_chosen_backbone_with_torchvisions_numbers(candidate_store: Path,
                                                                           tmp_path: Path) -> None:
    run_dir = Path(shutil.copytree(candidate_store, tmp_path / "store"))
    rec = read_record(CandidatesRecord, run_dir / "candidates.json")
    assert [(c.backbone, c.chosen) for c in rec.candidates] == [
        ("resnet18", False), ("efficientnet_lite0", True), ("efficientnet_b0", False)]
    table = _tables(_builder(run_dir))["candidates"]
    rows = {row[0].text: row for row in table.rows}
    assert list(rows) == ["ResNet-18", "EfficientNet-Lite0", "EfficientNet-B0"]
    meta = torchvision.models.get_model_weights("resnet18").DEFAULT.meta
    r18 = rows["ResNet-18"]
    assert r18[0].sub == "IMAGENET1K_V1"
    assert r18[1].text == f"{meta['_metrics']['ImageNet-1K']['acc@1']:.1f}"
    assert r18[3].text == f"{meta['num_params'] / 1e6:.2f} M"
    assert r18[-1].text == "" and r18[0].cls == ""
    chosen = rows["EfficientNet-Lite0"]
    assert chosen[-1].text == "✓" and all(cell.cls == "chosen" for cell in chosen)

    written = render_report(run_dir, lang="both")
    en = written["html:en"].read_text(encoding="utf-8")
    zh = written["html:zh-TW"].read_text(encoding="utf-8")
    assert f"torchvision {torchvision.__version__}" in en and "候選模型" in zh
    assert re.search(r'<td class="num chosen">✓</td>', en)
    # The torchinfo failure during the run is a note in the appendix, not a crash and not a table.
    assert "torchinfo could not summarise EfficientNet-Lite0" in en and "cannot trace this model" in en
    assert "torchinfo 無法產生" in zh


def test_without_candidates_json_the_table_shows_the_chosen_backbones_from_arch_json(store_copy: Path) -> None:
    """A store written before candidates.json existed still gets the table (the labs ask for it)."""
    (store_copy / "candidates.json").unlink()
    b = _builder(store_copy)
    table = _tables(b)["candidates"]
    arch = load_run(store_copy).cells[0].arch
    assert [row[0].text for row in table.rows] == ["EfficientNet-Lite0"]
    assert table.rows[0][3].text == f"{arch.imagenet['num_params'] / 1e6:.2f} M" and table.rows[0][-1].text == "✓"
    assert table.source == "cells/*/arch.json imagenet"
