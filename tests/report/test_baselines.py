"""Published baselines: exact protocol matches only, on real store records; the shipped file is cited and sane.

Matching is tested on the records of the session's real store (a real CellRecord and the dataset facts of the
official PneumoniaMNIST test split) with one protocol field changed at a time: each change is a near miss, and
a near miss must match nothing. The end-to-end run of a true MedMNIST v2 protocol cell is marked slow.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
import tomllib

from reportgen.describe.persist import ensure_description
from reportgen.i18n import t
from reportgen.published import baselines
from reportgen.report.context import build_context
from reportgen.store import load_run

V2_R18_28 = {"backbone": "resnet18", "stem": "small", "input_size": 28, "strategy": "scratch", "weights": "none"}


@pytest.fixture(scope="module")
def real(real_store):
    run = load_run(real_store)
    cell = next(c for c in run.cells if c.cell.strategy == "finetune")
    return run, cell, run.datasets.get(cell.cell.dataset) or cell.data


def _as(cell, **update):
    """The real cell with protocol fields changed (what the runner would record for that configuration)."""
    copy = type(cell)(**{**cell.__dict__})
    copy.cell = cell.cell.model_copy(update=update)
    return copy


def test_the_medmnist_v2_protocol_matches_its_row_and_nothing_else(real) -> None:
    _, cell, facts = real
    m = baselines.match(_as(cell, **V2_R18_28), {"benchmark": "pneumoniamnist"}, facts)
    assert m is not None and m.row.source.key == "medmnist_v2"
    assert m.row.values == {"acc": 0.854, "auc": 0.944}  # REFERENCE.md §3, ResNet-18 (28)
    assert m.subset == {"to_n": facts.train_subsampled.to_n, "from_n": facts.train_subsampled.from_n}
    m224 = baselines.match(_as(cell, **{**V2_R18_28, "input_size": 224, "stem": "default"}),
                           {"benchmark": "pneumoniamnist"}, facts)
    assert m224 is not None and m224.row.values == {"acc": 0.864, "auc": 0.956}


@pytest.mark.parametrize(("change", "spec"), [
    ({"input_size": 32}, {"benchmark": "pneumoniamnist"}),  # wrong input size
    ({"input_size": 64}, {"benchmark": "pneumoniamnist"}),  # the demo's size
    ({"stem": "default"}, {"benchmark": "pneumoniamnist"}),  # 28 px without the small stem
    ({"backbone": "resnet34"}, {"benchmark": "pneumoniamnist"}),  # no published ResNet-34
    ({"backbone": "efficientnet_lite0"}, {"benchmark": "pneumoniamnist"}),  # the demo's backbone
    ({"strategy": "warmup"}, {"benchmark": "pneumoniamnist"}),
    ({}, {"benchmark": "pneumoniamnist_64"}),  # wrong image size
    ({}, {"benchmark": "breastmnist"}),  # another benchmark: its official test split has 156 images, not 624
    ({}, {}),  # no benchmark declared
    ({}, None),
])
def test_a_near_miss_matches_nothing(real, change, spec) -> None:
    _, cell, facts = real
    assert baselines.match(_as(cell, **{**V2_R18_28, **change}), spec, facts) is None


def test_a_test_split_other_than_the_official_one_matches_nothing(real) -> None:
    _, cell, facts = real
    test = facts.splits["test"]
    smaller = facts.model_copy(update={"splits": {**facts.splits, "test": test.model_copy(update={"n": test.n - 1})}})
    assert baselines.match(_as(cell, **V2_R18_28), {"benchmark": "pneumoniamnist"}, smaller) is None


def test_pretrained_rows_need_imagenet_weights_and_medmnist_kind_is_matched_by_name_and_size(real) -> None:
    _, cell, facts = real
    ft = {"backbone": "resnet18", "stem": "default", "input_size": 64, "strategy": "finetune"}
    spec = {"kind": "medmnist", "name": "pneumoniamnist", "size": 64}
    m = baselines.match(_as(cell, **ft, weights="DEFAULT"), spec, facts)
    assert m is not None and m.row.source.key == "medmnist_plus" and m.row.values == {"acc": 0.860, "auc": 0.943}
    lp = baselines.match(_as(cell, **{**ft, "strategy": "frozen"}, weights="IMAGENET1K_V1"),
                         {**spec, "size": 224}, facts)
    assert lp is not None and lp.row.values == {"acc": 0.832, "auc": 0.969}
    for weights in ("none", "/tmp/mine.pth"):
        assert baselines.match(_as(cell, **ft, weights=weights), spec, facts) is None


def test_the_finding_rule_below_and_above(real) -> None:
    _, cell, facts = real
    m = baselines.match(_as(cell, **V2_R18_28), {"benchmark": "pneumoniamnist"}, facts)
    test = cell.test

    def scored(acc, lo):
        c = _as(cell, **V2_R18_28)
        c.metrics = cell.metrics.model_copy(update={"test": test.model_copy(
            update={"accuracy": acc, "auc": 0.944, "ci": {**test.ci, "accuracy": (lo, min(1.0, acc + 0.02)),
                                                          "auc": (0.93, 0.95)}})})
        return {r["metric"]: r["rule"] for r in baselines.compare(c, m)}

    assert scored(0.75, 0.72) == {"acc": "below", "auc": ""}  # 10.4 points under 0.854
    assert scored(0.76, 0.73) == {"acc": "", "auc": ""}  # 9.4 points under: not far below
    assert scored(0.93, 0.90) == {"acc": "", "auc": ""}  # CI low end only 4.6 points above
    assert scored(0.95, 0.91) == {"acc": "above", "auc": ""}  # CI wholly 5.6 points above


def test_no_published_column_for_the_demo_protocol_even_with_the_benchmark_declared(store_copy) -> None:
    run = load_run(store_copy)
    declared = [dataclasses.replace(d, benchmark="pneumoniamnist") for d in run.experiment.datasets]  # as demo.toml
    run.run = run.run.model_copy(update={"experiment": run.experiment.model_copy(update={"datasets": declared})})
    ctx = build_context(run, ensure_description(run), "en")
    tables = [b for s in ctx.sections for b in s.blocks if getattr(b, "ref", "").startswith("metrics:")]
    assert tables and all(t("en", "baselines.col.published") not in tab.header for tab in tables)
    text = " ".join(getattr(b, "text", "") for s in ctx.sections for b in s.blocks)
    assert "MedMNIST v2 (" not in text and "Published column" not in text


def test_the_shipped_file_is_cited_and_every_number_is_a_fraction() -> None:
    doc = tomllib.loads(baselines.FILE.read_text(encoding="utf-8"))
    datasets, rows = baselines.load()
    assert len(rows) == len(doc["results"]) >= 40
    for src in doc["sources"].values():
        assert re.search(r"\(20\d\d\)|20\d\d;", src["cite"]) and src["checked"]
        for lang in ("en", "zh-TW"):
            assert t(lang, f"baselines.protocol.{next(k for k, v in doc['sources'].items() if v is src)}")
    for r in rows:
        assert r.dataset in datasets and r.strategy in ("scratch", "finetune", "frozen")
        assert r.values and all(0 < v <= 1 for v in r.values.values())
    # REFERENCE.md's rows are there exactly: PneumoniaMNIST (§3), MedMNIST+ (§10), Kermany (§11).
    by = {(r.source.key, r.dataset, r.backbone, r.image_size, r.input_size, r.strategy): r.values for r in rows}
    assert by[("medmnist_v2", "pneumoniamnist", "resnet50", 28, 224, "scratch")] == {"acc": 0.884, "auc": 0.962}
    assert by[("medmnist_plus", "pneumoniamnist", "resnet18", 128, 0, "frozen")] == {"acc": 0.804, "auc": 0.944}
    assert by[("kermany2018", "kermany2018", "inception_v3", 0, 0, "frozen")] == {"acc": 0.928, "auc": 0.968}


def test_an_unknown_benchmark_is_one_error_naming_the_key(tmp_path) -> None:
    from click.testing import CliRunner
    from tinyexp import tiny_experiment

    from reportgen.cli import cli

    toml = tiny_experiment(tmp_path, file="x.toml", name="x", strategies=None, report=None, train_base={},
                           dataset={"name": "pneumoniamnist", "classes": None, "max_train_samples": None,
                                    "benchmark": "pneumonimnist"}, backbone={"input_size": None})
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == 2 and "datasets[0].benchmark" in result.output
    assert 'did you mean "pneumoniamnist"' in result.output and "Traceback" not in result.output


V2_DATASETS = [{"name": name, "benchmark": benchmark, "max_train_samples": 64}
               for name, benchmark in (("pneumoniamnist", "pneumoniamnist"), ("pneumo64", "pneumoniamnist_64"))]


@pytest.mark.slow
def test_a_medmnist_v2_protocol_run_shows_the_published_row_and_its_source(tmp_path) -> None:
    """ResNet-18, 28 px, small stem, from scratch (~70 s on 2 CPU cores: the official 1148 val/test images)."""
    from click.testing import CliRunner
    from tinyexp import DATASET, tiny_experiment

    from reportgen.cli import cli
    from reportgen.report import render_report

    toml = tiny_experiment(tmp_path, file="v2.toml", name="v2", strategies=["scratch"], seeds=[0],
                           report={"language": "both"}, datasets=[{**DATASET, **d} for d in V2_DATASETS],
                           backbone={"name": "resnet18", "weights": "none", "input_size": 28, "stem": "small"},
                           train={"optimizer": "adam", "batch_size": 64, "epochs": 1, "selection_metric": None})
    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress", "--no-checkpoints"])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "v2"
    written = render_report(run_dir, lang="both")
    for lang, key in (("en", "html:en"), ("zh-TW", "html:zh-TW")):
        page = written[key].read_text(encoding="utf-8")
        tables = dict(re.findall(r'data-ref="(metrics:[^"]+)">(.*?)</figure>', page, re.S))
        matched, near = tables["metrics:pneumoniamnist:scratch"], tables["metrics:pneumo64:scratch"]
        assert t(lang, "baselines.col.published") in matched and "MedMNIST v2" in matched
        assert t(lang, "baselines.cell", acc="85.4", auc="0.944") in matched
        assert t(lang, "baselines.col.published") not in near and "0.944" not in near  # wrong image size
        assert "doi:10.1038/s41597-022-01721-8" in page
    findings = load_run(run_dir)
    found = {f.evidence["metric"]: f for f in ensure_description(findings).findings if f.id.startswith("published_")}
    assert all(f.scope["dataset"] == "pneumoniamnist" for f in found.values())  # never the near miss
    cell = next(c for c in findings.cells if c.cell.dataset == "pneumoniamnist")
    # One epoch on 64 images: far below 85.4 % / 0.944 unless the model is far better than that.
    assert ("ACC" in found) == (cell.test.accuracy < 0.854 - 0.10)
    assert ("AUC" in found) == (cell.test.auc < 0.944 - 0.10)
    if "ACC" in found:
        assert found["ACC"].id == "published_below" and found["ACC"].evidence["value"] == cell.test.accuracy
