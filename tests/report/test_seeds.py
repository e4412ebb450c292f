"""Several seeds: the report shows mean ± sd per backbone × strategy, computed from the store."""

from __future__ import annotations

import statistics
from pathlib import Path

from reportgen.report.analysis import compute_seed_summary
from reportgen.report.format import pct
from reportgen.store import load_run


def test_seed_summary_mean_and_sd(store_copy: Path) -> None:
    run = load_run(store_copy)
    frozen = [c.test.accuracy for c in run.cells if c.cell.strategy == "frozen"]
    assert len(frozen) == 2
    rows = compute_seed_summary(run)["rows"]
    row = next(r for r in rows if r["strategy"] == "frozen")
    assert row["seeds"] == [0, 1]
    assert row["accuracy"]["mean"] == statistics.mean(frozen)
    assert abs(row["accuracy"]["sd"] - statistics.stdev(frozen)) < 1e-12  # sample sd (ddof = 1)

    from reportgen.report import render_report

    html = render_report(store_copy, lang="en", pdf=False)["html:en"].read_text()
    assert "Mean over seeds" in html and pct(statistics.mean(frozen)) in html
