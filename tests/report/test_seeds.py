"""Several seeds: the report shows mean ± sd per backbone × strategy, computed from the store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reportgen.report.analysis import compute_seed_summary
from reportgen.store import load_run


def test_seed_summary_mean_and_sd(store_copy: Path, tmp_path: Path) -> None:
    run_json = json.loads((store_copy / "run.json").read_text())
    src = next(p for p in (store_copy / "cells").iterdir() if "-frozen-" in p.name)
    twin = src.with_name(src.name.replace("-s0-", "-s1-"))
    shutil.copytree(src, twin)
    cell = json.loads((twin / "cell.json").read_text())
    cell.update(id=twin.name, seed=1)
    (twin / "cell.json").write_text(json.dumps(cell))
    metrics = json.loads((twin / "metrics.json").read_text())
    a = metrics["test"]["accuracy"]
    metrics["test"]["accuracy"] = a - 0.1
    (twin / "metrics.json").write_text(json.dumps(metrics))
    run_json["cells"].append(twin.name)
    run_json["experiment"]["seeds"] = [0, 1]
    (store_copy / "run.json").write_text(json.dumps(run_json))

    rows = compute_seed_summary(load_run(store_copy))["rows"]
    frozen = next(r for r in rows if r["strategy"] == "frozen" and r["backbone"] == cell["backbone"])
    assert frozen["seeds"] == [0, 1]
    assert frozen["accuracy"]["mean"] == pytest.approx(a - 0.05)
    assert frozen["accuracy"]["sd"] == pytest.approx(0.1 / 2**0.5)  # sample sd of two values 0.1 apart
    other = next(r for r in rows if r["strategy"] == "finetune" and r["backbone"] == cell["backbone"])
    assert other["accuracy"]["sd"] is None and other["accuracy"]["n"] == 1

    from reportgen.report import render_report

    out = render_report(store_copy, lang="en", pdf=False)
    html = out["html:en"].read_text()
    assert "Mean over seeds" in html and f"{(a - 0.05) * 100:.1f}" in html
