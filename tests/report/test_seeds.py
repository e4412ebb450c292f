"""Several seeds: the report shows mean ± sd per resolved configuration, computed from the store.

Cells kept from an earlier, edited configuration are never pooled with the new ones as "seed variability":
the seed summary groups by the cell's whole resolved configuration (cell.json without id and seed).
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.describe.persist import analysis_paths, ensure_description
from reportgen.describe.seeds import config_key, seed_summaries
from reportgen.report.format import pct
from reportgen.store import load_run


def test_seed_summary_mean_and_sd(store_copy: Path) -> None:
    run = load_run(store_copy)
    frozen = [c.test.accuracy for c in run.cells if c.cell.strategy == "frozen"]
    assert len(frozen) == 2
    rows = seed_summaries(run)
    row = next(r for r in rows if r.strategy == "frozen")
    assert row.seeds == [0, 1] and row.n == 2 and row.differs == {}
    assert row.accuracy.mean == statistics.mean(frozen)
    assert abs(row.accuracy.sd - statistics.stdev(frozen)) < 1e-12  # sample sd (ddof = 1)

    from reportgen.report import render_report

    html = render_report(store_copy, lang="en", pdf=False)["html:en"].read_text()
    assert "Mean over seeds" in html and pct(statistics.mean(frozen)) in html


@pytest.fixture(scope="module")
def edited_store(real_store: Path, tmp_path_factory) -> Path:
    """The real store (finetune / frozen / scratch × seeds 0, 1, 2 epochs), then its TOML edited to 1 epoch of
    frozen only and run again into the same run folder with the real runner: the store keeps the first
    configuration's finished cells next to the two new ones."""
    import shutil

    from realstore import build_store

    root = tmp_path_factory.mktemp("edited")
    shutil.copytree(real_store, root / "runs" / "real")
    return build_store(root, name="real", strategies='["frozen"]', seeds="[0, 1]", epochs=1)


def test_cells_of_an_edited_config_are_not_pooled_as_seeds(edited_store: Path) -> None:
    run = load_run(edited_store)
    frozen = [c for c in run.cells if c.cell.strategy == "frozen"]
    assert len(run.cells) == 8 and len(frozen) == 4 and len({config_key(c) for c in frozen}) == 2
    rows = [r for r in seed_summaries(run) if r.strategy == "frozen"]
    assert [r.n for r in rows] == [2, 2], "two configurations × 2 seeds must be two groups of n = 2, not one of 4"
    assert all(r.n == 2 and not r.differs for r in seed_summaries(run) if r.strategy != "frozen")
    for r in rows:
        cells = [c for c in run.cells if c.id in r.cells]
        assert len({config_key(c) for c in cells}) == 1 and sorted(r.seeds) == [0, 1]
        assert {c.cell.train["epochs"] for c in cells} == {r.differs["train.epochs"]}
        acc = [c.test.accuracy for c in cells]
        assert r.accuracy.mean == statistics.mean(acc) and r.accuracy.n == 2
        assert abs(r.accuracy.sd - statistics.stdev(acc)) < 1e-12
    # The headline names one configuration's seeds, never a mix of both.
    head = next(c for c in ensure_description(run).claims if c.kind == "headline")
    assert head.values["n_seeds"] == 2
    assert len({config_key(c) for c in run.cells if c.id in head.cells}) == 1


def test_run_writes_the_description_and_render_only_reads_it(edited_store: Path, tmp_path: Path) -> None:
    import shutil

    store = Path(shutil.copytree(edited_store, tmp_path / "store"))
    paths = analysis_paths(store)
    assert all(p.is_file() for p in paths.values()), "`run` writes the description when it ends"
    before = {k: p.stat().st_mtime_ns for k, p in paths.items()}
    result = CliRunner().invoke(cli, ["render", str(store), "--lang", "en", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert {k: p.stat().st_mtime_ns for k, p in paths.items()} == before  # read, not recomputed
    html = (store / "report.html").read_text(encoding="utf-8")  # the first (only) language's file
    assert "train.epochs = 1" in html and "train.epochs = 2" in html  # two seed-table rows, told apart
    ok = CliRunner().invoke(cli, ["check", str(store)])
    assert ok.exit_code == 0, ok.output
