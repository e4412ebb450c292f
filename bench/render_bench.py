"""Benchmark: render a synthetic 24-cell results store to HTML and PDF; write bench/out/render.json.

24 cells = 2 datasets × 3 backbones × 4 strategies × 1 seed, 120 test images each. Times the first
render (computes the run's description under analysis/: the synthetic store has none), then HTML only and HTML + PDF, for one
language and for both (the demo's default ``language = "both"`` writes two documents, so both numbers
are reported). ``*_cold`` empties ``<run>/figures`` first, so every figure is drawn (a first render);
``*_warm`` re-renders with the figure cache filled (what a user who edits notes and re-renders waits).
``*_one_process`` is the baseline: ``--jobs 1``, no worker processes. Each measure is the median of
three runs (``wall_range_s`` gives the spread: this VM's timings vary by ±15 % from run to run).
Target: one report, HTML + PDF, cold, ≤ 10 s on 2 cores. Compare ``cpu_s`` (this process and its
workers) with ``wall_s``, and note ``load_average``.

    .venv/bin/python bench/render_bench.py
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _make_store():
    spec = importlib.util.spec_from_file_location("make_store", ROOT / "tests" / "fixtures" / "make_store.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_store


def _timed(fn, repeat: int = 1) -> dict:
    """Wall time, and CPU time of this process and its workers (on a shared machine the CPU time
    says how much of the wall time was waiting). With ``repeat`` > 1: the median run, plus the range."""
    runs = []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), os.times()
        fn()
        end = os.times()
        used = (end.user - cpu.user) + (end.system - cpu.system) + (end.children_user - cpu.children_user) \
            + (end.children_system - cpu.children_system)
        runs.append({"wall_s": round(time.perf_counter() - start, 2), "cpu_s": round(used, 2)})
    runs.sort(key=lambda r: r["wall_s"])
    out = dict(runs[len(runs) // 2])
    if repeat > 1:
        out["wall_range_s"] = [runs[0]["wall_s"], runs[-1]["wall_s"]]
        out["runs"] = repeat
    return out


def main(repeat: int = 3) -> dict:
    from reportgen.report import render_report
    from reportgen.report.figures import default_workers

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        run = _make_store()(Path(tmp), name="bench24", datasets=("pneumoniamnist", "chestxray"),
                            backbones=("efficientnet_lite0", "resnet18", "mobilenet_v3_small"),
                            strategies=("finetune", "frozen", "warmup", "scratch"), n_boot=200)
        n_cells = len(list((run / "cells").iterdir()))

        def cold(**kw):
            def go():
                shutil.rmtree(run / "figures", ignore_errors=True)
                render_report(run, **kw)
            return go

        result = {
            "cells": n_cells,
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "workers": default_workers(),
            "python": platform.python_version(),
            "load_average_start": os.getloadavg(),
            "first_render_html_en_with_analysis": _timed(lambda: render_report(run, lang="en")),
            # the target: one report, HTML + PDF, nothing cached (every figure drawn)
            "html_pdf_en_cold": _timed(cold(lang="en", pdf=True), repeat),
            # the baseline: the same, all in one process (how render worked before the worker pool)
            "html_pdf_en_cold_one_process": _timed(cold(lang="en", pdf=True, jobs=1), repeat),
            "html_pdf_en_warm": _timed(lambda: render_report(run, lang="en", pdf=True), repeat),
            "html_en_cold": _timed(cold(lang="en"), repeat),
            "html_pdf_both_cold": _timed(cold(lang="both", pdf=True), repeat),
            "html_pdf_both_warm": _timed(lambda: render_report(run, lang="both", pdf=True), repeat),
            "figures_per_language": None,
            "pdf_pages_en": None,
        }
        import pypdf

        result["pdf_pages_en"] = len(pypdf.PdfReader(run / "report.en.pdf").pages)
        result["figures_per_language"] = (run / "report.en.html").read_text(encoding="utf-8").count("data:image/png")
    result["target_s"] = 10.0
    result["speedup_vs_one_process"] = round(result["html_pdf_en_cold_one_process"]["wall_s"]
                                             / result["html_pdf_en_cold"]["wall_s"], 2)
    result["meets_target"] = result["html_pdf_en_cold"]["wall_s"] <= result["target_s"]
    result["load_average"] = os.getloadavg()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "render.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
