"""Many cells: a store of ~500 cells, and how long `status`, `check` and `render` take on it (and their peak memory).

``python bench/many_cells.py [--cells 500] [--out bench/out]``

The store is written by the real code, not by hand: an experiment of 1 dataset × 1 backbone × 3
strategies × ceil(N/3) seeds is planned by ``preflight`` (real cell ids, run.json, dataset facts written by
the runner's own ``prepare``), the seed-0 cell of each strategy is trained by the runner (tiny: 32 px,
160 images, 1 epoch), and every other cell is that strategy's trained cell with its own predictions —
the trained probabilities perturbed by a seeded noise, written with ``store.write_predictions``, scored
with ``consistency.score_cell`` (what the runner does) and recorded with the runner's record types. So
`check` recomputes 500 real metric sets and render lays out 500 cells.

Each command runs in its own process; wall time and peak RSS (``wait4``'s ``ru_maxrss``) are recorded
in ``<out>/many_cells.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tinyexp import tiny_experiment  # noqa: E402  (the tests' tiny experiment; bench runs from the checkout)


def _toml(folder: Path, seeds: int) -> Path:
    return tiny_experiment(folder, file="many.toml", name="many", seeds=list(range(seeds)),
                           report={"title": "Many cells", "language": "en"}, train={"epochs": 1})


def build_store(folder: Path, n_cells: int) -> Path:
    """Train one real cell per strategy and derive the others from them (see the module docstring)."""
    from reportgen import store
    from reportgen.config import load_experiment
    from reportgen.describe.consistency import score_cell
    from reportgen.store.schema import CellRecord, ResultRecord
    from reportgen.train.runner import run_experiment

    seeds = -(-n_cells // 3)
    exp = load_experiment(_toml(folder, seeds))
    run_experiment(exp, only=["-s0-"], save_checkpoints=False)  # run.json lists every planned cell
    run_dir = exp.run_dir
    from reportgen.train.preflight import preflight

    plan = preflight(exp)
    cells = plan.cells[:n_cells]
    templates = {c.strategy: run_dir / "cells" / c.id for c in plan.cells if c.seed == 0}
    for cell in cells:
        cdir = run_dir / "cells" / cell.id
        if store.is_finished(cdir):
            continue
        src = templates[cell.strategy]
        shutil.copytree(src, cdir, ignore=shutil.ignore_patterns("result.json", "predictions_*.csv",
                                                                 "metrics.json", "cell.json"))
        rng = np.random.default_rng(cell.seed)
        preds = {}
        for split in ("val", "test"):
            p = store.read_predictions(src / f"predictions_{split}.csv")
            logits = np.log(np.clip(p.probs, 1e-9, 1)) + rng.normal(0, 0.6, p.probs.shape)
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            store.write_predictions(cdir / f"predictions_{split}.csv", p.labels, probs, p.sample_id)
            preds[split] = store.read_predictions(cdir / f"predictions_{split}.csv")
        old_cell = store.read_record(CellRecord, src / "cell.json")
        store.write_record(cdir / "cell.json", CellRecord(**{**old_cell.model_dump(), "id": cell.id,
                                                             **cell.resolved()}))
        metrics = score_cell(preds["val"], preds["test"], classes=old_cell.classes, seed=cell.seed, n_boot=200)
        store.write_record(cdir / "metrics.json", metrics)
        old = store.read_record(ResultRecord, src / "result.json")
        store.write_record(cdir / "result.json", ResultRecord(**{
            **old.model_dump(), "cell_id": cell.id, "test": {m: getattr(metrics.test, m) for m in old.test},
            "finished_at": dt.datetime.now(dt.timezone.utc).isoformat()}))
    return run_dir


def _timed(cmd: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode("utf-8", "replace")  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"command": " ".join(cmd[2:]), "seconds": round(time.perf_counter() - t0, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "exit_code": proc.returncode,
            "load_avg_after": [round(x, 2) for x in os.getloadavg()], "output_tail": out[-600:]}


def report_size(html: Path, pdf: Path) -> dict:
    """How big the report came out: figures (embedded images), tables, table body rows, PDF pages."""
    import re

    out: dict = {}
    if html.exists():
        text = html.read_text(encoding="utf-8")
        tables = re.findall(r"<table>.*?</table>", text, re.S)
        out.update(figures=len(re.findall(r"<img\b", text)), tables=len(tables),
                   table_rows=sum(len(re.findall(r"<tr\b", re.sub(r"<thead>.*?</thead>", "", t, flags=re.S)))
                                  for t in tables),
                   sections=len(re.findall(r'<section\b', text)))
    if pdf.exists():
        try:
            from pypdf import PdfReader

            out["pdf_pages"] = len(PdfReader(str(pdf)).pages)
        except Exception as exc:  # a page count is a nicety: the timings stand without it
            out["pdf_pages_error"] = f"{type(exc).__name__}: {exc}"
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=500)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--keep", type=Path, default=None, help="build the store here and keep it")
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--store", type=Path, default=None,
                    help="measure this already built run folder (from an earlier --keep) instead of building one")
    ap.add_argument("--no-pdf", action="store_true", help="time the HTML render only (the PDF takes longest)")
    args = ap.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="reportgen-many-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("REPORTGEN_CACHE_DIR", str(work / "cache"))
    if args.build_only:
        build_store(work, args.cells)
        return
    t0 = time.perf_counter()
    if args.store is not None:  # the store of an earlier run: only the commands are measured
        run_dir = args.store
    else:
        run_dir = _build(work, args.cells)
    build_s = time.perf_counter() - t0
    _measure(args, work, run_dir, build_s)


def _build(work: Path, n_cells: int) -> Path:
    # Built in its own process: this one stays small (no torch), so each measured command's peak RSS is
    # its own (a forked child's ru_maxrss counts the parent's pages it started with).
    subprocess.run([sys.executable, __file__, "--build-only", "--cells", str(n_cells), "--keep", str(work)],
                   check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return work / "runs" / "many"


def _measure(args: argparse.Namespace, work: Path, run_dir: Path, build_s: float) -> None:
    py = [sys.executable, "-m"]
    load_before = [round(x, 2) for x in os.getloadavg()]
    runs = [_timed(py + ["reportgen.cli", "status", str(run_dir)]),
            _timed(py + ["reportgen.cli", "check", str(run_dir)]),
            _timed(py + ["reportgen.cli", "render", str(run_dir), "--lang", "en"])]
    html = run_dir / "report.html"
    pdf = run_dir / "report.pdf"
    sizes = {"html_render": report_size(html, pdf)}
    if not args.no_pdf:
        runs.append(_timed(py + ["reportgen.cli", "render", str(run_dir), "--lang", "en", "--pdf"]))
        sizes["pdf_render"] = report_size(html, pdf)
    from reportgen import store

    n = len(store.load_run(run_dir).cells)
    result = {"date": dt.date.today().isoformat(), "cells": n,
              "build_store_s": None if args.store is not None else round(build_s, 1),
              "cpus": len(os.sched_getaffinity(0)), "load_avg_before": load_before, "load_avg": os.getloadavg(),
              "commands": runs, "report": sizes,
              "report_html_mb": round(html.stat().st_size / 1e6, 2) if html.exists() else None,
              "report_pdf_mb": round(pdf.stat().st_size / 1e6, 2) if pdf.exists() else None}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "many_cells.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
