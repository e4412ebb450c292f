"""The training log (item 3): per-epoch tables equal to epochs.csv, the kept epoch marked, the warm-up boundary,
the class weights the loss used, and out-of-memory retries with the batch size actually used.

Every store here was written by the real runner on real images (PneumoniaMNIST, Kermany JPEGs).
"""

from __future__ import annotations

import csv
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch

from reportgen.describe.persist import ensure_description
from reportgen.report import render_report
from reportgen.report.context import build_context
from reportgen.report.model import Figure, Paragraph, Table
from reportgen.report.sections import training
from reportgen.store import load_run, read_json
from tests.conftest import DEMO_NPZ, build_store

STAR = training.STAR


# --------------------------------------------------------------------------- reading the rendered HTML
class _Tables(HTMLParser):
    """Tables by their data-ref: rows of (text, css class) per cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str]]]] = {}
        self._ref: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None
        self._cls = ""
        self._sub = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "figure" and a.get("data-ref"):
            self._ref = a["data-ref"]
            self.tables[self._ref] = []
        elif self._ref and tag == "tbody":
            self._in_body = True
        elif self._ref and self._in_body and tag == "tr":
            self.tables[self._ref].append([])
        elif self._ref and self._in_body and tag == "td":
            self._cell, self._cls = [], a.get("class") or ""
        elif tag == "span" and self._cell is not None:
            self._sub += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.tables[self._ref][-1].append(("".join(self._cell).strip(), self._cls))
            self._cell = None
        elif tag == "span" and self._sub:
            self._sub -= 1
        elif tag == "tbody":
            self._in_body = False
        elif tag == "figure":
            self._ref = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._sub:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[tuple[str, str]]]]:
    p = _Tables()
    p.feed(html)
    return p.tables


def epochs_csv(cell_dir: Path) -> list[dict[str, str]]:
    with (cell_dir / "epochs.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def check_epoch_tables(run_dir: Path, html: str) -> None:
    """Every finished cell has a table of exactly epochs_run rows whose numbers are epochs.csv's."""
    found = tables(html)
    cells = sorted((run_dir / "cells").iterdir())
    assert cells
    for cdir in cells:
        result = read_json(cdir / "result.json")
        rows = found.get(f"epochs-{cdir.name}")
        assert rows is not None, f"no epoch table for {cdir.name}"
        raw = epochs_csv(cdir)
        assert len(rows) == result["epochs_run"] == len(raw)
        for shown, stored in zip(rows, raw, strict=True):
            texts = [t for t, _ in shown]
            best = int(stored["epoch"]) == result["best_epoch"]
            assert texts[0] == (f"{stored['epoch']} {STAR}" if best else stored["epoch"])
            assert all(("best" in cls) == best for _, cls in shown), (cdir.name, stored["epoch"])
            # The numbers, parsed back from the page, equal the stored ones to the digits shown.
            nums = texts[2:]
            # Percentages carry one decimal (and never round to 100.0): within 0.06 points.
            for key, text, scale, tol in (
                ("train_loss", nums[0], 1, 5e-5), ("train_acc", nums[1], 100, 6e-4),
                ("train_macro_f1", nums[2], 100, 6e-4), ("val_loss", nums[3], 1, 5e-5),
                ("val_acc", nums[4], 100, 6e-4), ("val_macro_f1", nums[5], 100, 6e-4),
                ("seconds", nums[8], 1, 0.05), ("peak_mem_mb", nums[9].replace(",", ""), 1, 0.5)):
                assert float(text) / scale == pytest.approx(float(stored[key]), abs=tol), \
                    (cdir.name, key, text, stored[key])
            assert float(nums[7]) == pytest.approx(float(stored["lr"]), rel=5e-3)
            if stored["val_auc"]:
                assert float(nums[6]) == pytest.approx(float(stored["val_auc"]), abs=5e-4)
            else:
                assert nums[6] == "n/a"
        assert sum(STAR in r[0][0] for r in rows) == 1


def test_binary_store_epoch_tables_equal_epochs_csv(rendered) -> None:
    check_epoch_tables(rendered["run"], rendered["en"])
    check_epoch_tables(rendered["run"], rendered["zh"])


def test_multiclass_store_epoch_tables_warmup_and_class_weights(multiclass_copy: Path) -> None:
    written = render_report(multiclass_copy, lang="en")
    html = written["html:en"].read_text(encoding="utf-8")
    check_epoch_tables(multiclass_copy, html)
    # Class-weighted loss: the weights table shows the stored values per class.
    weights = tables(html)["class-weights-kermany3"]
    cell = next(p for p in (multiclass_copy / "cells").iterdir())
    stored = read_json(cell / "result.json")["class_weights"]
    assert [float(r[2][0]) for r in weights] == pytest.approx(stored, abs=5e-5)


# --------------------------------------------------------------------------- figure jobs: the warm-up boundary
def _context(run_dir: Path, lang: str = "en"):
    run = load_run(run_dir)
    return build_context(run, ensure_description(run), lang)


def test_warmup_boundary_is_in_the_figure_data_of_warmup_cells_only(multiclass_copy: Path) -> None:
    ctx = _context(multiclass_copy)
    frozen_epochs = read_json(multiclass_copy / "run.json")["experiment"]["train"]["warmup_frozen_epochs"]
    seen = set()
    for fig in ctx.figures:
        kind, data = fig.job
        if kind in ("curves", "overlay", "lr"):
            series = data["series"] if kind != "overlay" else [s for group in data["series"] for s in group]
            if kind == "lr":  # one line may stand for several strategies sharing a schedule
                assert [s["boundary"] for s in series if s["boundary"] is not None] == [frozen_epochs + 0.5]
                seen.add(kind)
                continue
            for s in series:
                if s["strategy"] == "warmup":
                    assert s["boundary"] == frozen_epochs + 0.5
                    seen.add(kind)
                else:
                    assert s["boundary"] is None
        if kind == "curves":
            assert all(s["train_acc"] and s["val_acc"] for s in data["series"])  # accuracy next to loss
    assert seen == {"curves", "overlay", "lr"}
    lr_figs = [f for f in ctx.figures if f.ref.startswith("lr-")]
    assert [f.ref for f in lr_figs] == ["lr-kermany3"]
    epochs = {c: [float(r["lr"]) for r in epochs_csv(multiclass_copy / "cells" / c)]
              for c in (p.name for p in (multiclass_copy / "cells").iterdir())}
    for s in lr_figs[0].job[1]["series"]:
        assert s["lr"] in epochs.values()  # the stored rates, not recomputed ones
    from reportgen.report.figures import draw
    from reportgen.report.fonts import find_cjk_font

    assert draw(lr_figs[0].job, str(find_cjk_font().path)).startswith(b"\x89PNG")


def test_a_long_log_moves_to_its_own_appendix_section(store_copy: Path, monkeypatch) -> None:
    monkeypatch.setattr(training, "INLINE_EPOCH_ROWS", 1)
    ctx = _context(store_copy)
    by_anchor = {s.anchor: s for s in ctx.sections}
    inline = [b for b in by_anchor["sec-training"].blocks if isinstance(b, Table) and b.ref.startswith("epochs-")]
    moved = [b for b in by_anchor["sec-training_log"].blocks if isinstance(b, Table)]
    assert not inline and len(moved) == len(list((store_copy / "cells").iterdir()))
    # The log is the last appendix but one: the reporting-checklist appendix closes the report.
    assert [s.anchor for s in ctx.sections][-2:] == ["sec-training_log", "sec-checklist"]


# --------------------------------------------------------------------------- class weights, OOM, early stop
class _OOMAbove:
    """Fault injection (as tests/unit/test_device_paths.py): the first model built raises out-of-memory on any
    training batch larger than ``above``, as a real GPU would; later models train normally."""

    def __init__(self, above: int) -> None:
        self.above, self.built, self.raised = above, 0, 0

    def wrap(self, build):
        def build_model(*args, **kwargs):
            built = build(*args, **kwargs)
            self.built += 1
            if self.built == 1:
                built.model.register_forward_pre_hook(self.hook)
            return built
        return build_model

    def hook(self, module: torch.nn.Module, args: tuple) -> None:
        if module.training and args[0].shape[0] > self.above:
            self.raised += 1
            raise torch.OutOfMemoryError("injected: CUDA out of memory")


@pytest.fixture(scope="module")
def weighted_store(tmp_path_factory) -> Path:
    """Fine-tune and warm-up on imbalanced PneumoniaMNIST (class-weighted loss, weighted sampler, patience 1),
    the first cell out of memory above batch 16."""
    from reportgen.train import cell as cell_runner

    root = tmp_path_factory.mktemp("trainlog")
    inj = _OOMAbove(16)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REPORTGEN_CACHE_DIR", str(root / "cache"))
        mp.setattr(cell_runner, "build_model", inj.wrap(cell_runner.build_model))
        run = build_store(root, name="trainlog", strategies='["finetune", "warmup"]', seeds="[0]", epochs=4,
                          extra="class_weighted_loss = true\nweighted_sampler = true\nwarmup_frozen_epochs = 1\n"
                                "patience = 1\n")
    assert inj.raised >= 1
    return run


def test_class_weights_in_the_store_are_the_hand_computed_ones(weighted_store: Path) -> None:
    counts = read_json(weighted_store / "datasets" / "pneumoniamnist.json")["splits"]["train"]["counts"]
    n, k = sum(counts), len(counts)
    assert counts[0] != counts[1]  # imbalanced: the weights are not all ones
    for cdir in (weighted_store / "cells").iterdir():
        res = read_json(cdir / "result.json")
        assert res["class_weights"] == pytest.approx([n / (k * c) for c in counts], rel=1e-6)
        assert res["sampler_weights"] == pytest.approx([1 / c for c in counts], rel=1e-12)
        assert read_json(cdir / "data.json")["splits"]["train"]["counts"] == counts


def test_class_weights_are_the_ones_the_loss_used(monkeypatch) -> None:
    from reportgen.config import TRAIN_KEYS
    from reportgen.models.backbones import WeightsChoice, build_model
    from reportgen.train import loop

    d = np.load(DEMO_NPZ)
    x, y = d["train_images"][:, None][:120], d["train_labels"][:120, 0].astype(np.int64)
    tr, va = loop.Split(images=x[:80], labels=y[:80]), loop.Split(images=x[80:], labels=y[80:])
    used: list[torch.Tensor] = []
    real = loop.make_loss

    def spy(cfg, *, weights, device):
        used.append(weights)
        return real(cfg, weights=weights, device=device)

    monkeypatch.setattr(loop, "make_loss", spy)
    t = {k: v[0] for k, v in TRAIN_KEYS.items()}
    t.update(epochs=1, batch_size=32, class_weighted_loss=True, optimizer="adamw", lr=1e-3)
    torch.manual_seed(0)
    built = build_model("smallcnn", WeightsChoice("none"), num_outputs=2, input_size=28)
    cfg = loop.LoopConfig(strategy="finetune", train=t, num_classes=2, device=torch.device("cpu"), seed=0)
    res = loop.fit(loop.Forward(module=built.model, norm=built.normalization), head_path=built.head_path,
                   train=tr, val=va, cfg=cfg, full_model=built.model)
    assert len(used) == 1 and used[0] is not None
    assert res.class_weights == used[0].tolist()
    counts = np.bincount(tr.labels, minlength=2)
    assert res.class_weights == pytest.approx(list(len(tr.labels) / (2 * counts)), rel=1e-6)
    assert res.sampler_weights is None


def test_weights_oom_and_early_stop_are_shown(weighted_store: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(weighted_store, tmp_path / "run"))
    written = render_report(run, lang="both")
    html = written["html:en"].read_text(encoding="utf-8")
    check_epoch_tables(run, html)
    found = tables(html)
    cells = {p.name: read_json(p / "result.json") for p in (run / "cells").iterdir()}
    # Class weights and sampler weights per class, as stored.
    res = next(iter(cells.values()))
    w = found["class-weights-pneumoniamnist"]
    assert [float(r[2][0]) for r in w] == pytest.approx(res["class_weights"], abs=5e-5)
    assert [float(r[3][0]) for r in w] == pytest.approx(res["sampler_weights"], rel=5e-4)
    assert "weighted_sampler = true" in html
    # Out of memory: the cell that hit it trained with 16 instead of 32, and says so.
    hit = [r for r in cells.values() if r["oom_retries"]]
    assert len(hit) == 1 and hit[0]["batch_size_used"] == 16
    assert len(cells) - len(hit) == 1
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert re.search(rf"ran out of memory \({hit[0]['oom_retries']}×\).*batch size 16 instead of the "
                     r"configured 32", text)
    summary = found["training-summary"]
    assert sorted(r[4][0] for r in summary) == ["16", "32"]
    # Early stopping noted under the table of every cell that stopped, with its last epoch.
    for r in cells.values():
        note = f"Training stopped after epoch {r['epochs_run']}: validation did not improve within the patience of 1"
        assert (note in text) == r["stopped_early"]
    zh = written["html:zh-TW"].read_text(encoding="utf-8")
    assert "記憶體不足" in zh and "損失權重" in zh


def test_training_section_has_no_figure_without_data(store_copy: Path) -> None:
    """The binary store (no class weights, no OOM) says so in words instead of empty tables."""
    ctx = _context(store_copy)
    sec = next(s for s in ctx.sections if s.anchor == "sec-training")
    text = " ".join(b.text for b in sec.blocks if isinstance(b, Paragraph))
    assert "No cell ran out of memory" in text and "not class-weighted" in text
    assert not any(isinstance(b, Table) and b.ref.startswith("class-weights") for b in sec.blocks)
    assert [b.ref for b in sec.blocks if isinstance(b, Figure)] == ["lr-pneumoniamnist"]
