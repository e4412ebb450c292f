"""Benchmark: render a synthetic 24-cell results store to HTML and PDF; write bench/out/render.json.

24 cells = 2 datasets × 3 backbones × 4 strategies × 1 seed, 120 test images each. Times the first
render (computes analysis/comparisons.json + findings.json), then HTML only and HTML + PDF, for one
language and for both (the demo's default ``language = "both"`` writes two documents, so both numbers
are reported). ``*_cold`` empties ``<run>/figures`` first, so every figure is drawn (a first render);
``*_warm`` re-renders with the figure cache filled (what a user who edits notes and re-renders waits).
Target: HTML + PDF ≤ 10 s on 2 cores. The machine may be shared: compare ``cpu_s`` (this process and
its children) as well as ``wall_s``, and note ``load_average``.

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


def _timed(fn) -> dict:
    """Wall time, and CPU time of this process and its figure workers (on a busy machine the CPU
    time is what a quiet machine's wall time would be, for the serial parts)."""
    start, cpu = time.perf_counter(), os.times()
    fn()
    end = os.times()
    used = (end.user - cpu.user) + (end.system - cpu.system) + (end.children_user - cpu.children_user) \
        + (end.children_system - cpu.children_system)
    return {"wall_s": round(time.perf_counter() - start, 2), "cpu_s": round(used, 2)}


def main() -> dict:
    from reportgen.report import render_report

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
            "python": platform.python_version(),
            "load_average_start": os.getloadavg(),
            "first_render_html_en_with_analysis": _timed(lambda: render_report(run, lang="en")),
            "html_en_cold": _timed(cold(lang="en")),
            "html_pdf_en_cold": _timed(cold(lang="en", pdf=True)),
            "html_pdf_en_warm": _timed(lambda: render_report(run, lang="en", pdf=True)),
            "html_both_cold": _timed(cold(lang="both")),
            "html_pdf_both_cold": _timed(cold(lang="both", pdf=True)),
            "html_pdf_both_warm": _timed(lambda: render_report(run, lang="both", pdf=True)),
            "figures_per_language": None,
            "pdf_pages_en": None,
        }
        import pypdf

        result["pdf_pages_en"] = len(pypdf.PdfReader(run / "report.en.pdf").pages)
        result["figures_per_language"] = (run / "report.en.html").read_text(encoding="utf-8").count("data:image/png")
    result["target_s"] = 10.0
    result["load_average"] = os.getloadavg()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "render.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
