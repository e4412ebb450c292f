"""One presentation tree: `export --tables` writes the report's own tables, so a pasted table reads as the report.

The exported Markdown of every table equals the text of the same table (same ref) in the rendered HTML of
the same store — labels, † collapse marks, CIs and all — and the CSV carries the exact stored values.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tabletext import html_tables, norm

from reportgen.cli import cli
from reportgen.store import load_run


def _md_tables(folder: Path) -> dict[str, dict]:
    """Each exported ``<stem>.md``: its caption line, header and rows, cells as the report's text."""
    out = {}
    for path in sorted(folder.glob("*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [line for line in lines if line.startswith("|")]

        def cells(line: str) -> list[str]:
            parts = [p.replace("\\|", "|") for p in line.strip().strip("|").split(" | ")]
            return [norm(p.replace("<br>", " ")) for p in parts]

        out[path.stem] = {"caption": lines[0], "header": [cells(rows[0])], "rows": [cells(r) for r in rows[2:]]}
    return out


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_exported_markdown_equals_the_reports_table_text(rendered, tmp_path: Path, lang: str) -> None:
    out = tmp_path / "tables"
    result = CliRunner().invoke(cli, ["export", str(rendered["run"]), "--tables", str(out), "--lang", lang])
    assert result.exit_code == 0, result.output
    html = rendered["zh" if lang == "zh-TW" else "en"]
    report = {re.sub(r"[^a-z0-9]+", "-", ref.lower()).strip("-"): table for ref, table in html_tables(html).items()}
    exported = _md_tables(out)
    assert {"cost", "compare-pneumoniamnist", "pivot-pneumoniamnist-auc", "seeds-pneumoniamnist"} <= set(exported)
    for name, table in exported.items():
        assert name in report, name
        assert table["header"] == report[name]["header"], name
        assert table["rows"] == report[name]["rows"], name
        label = "表" if lang == "zh-TW" else "Table"
        assert table["caption"].startswith(f"**{label} ")
    # A collapsed cell is marked † in the report, and so in the pasted table (the same rows, compared above);
    # the marker is there exactly when the report has it.
    marked = any("†" in cell for row in exported["compare-pneumoniamnist"]["rows"] for cell in row)
    assert marked == any("†" in cell for row in report["compare-pneumoniamnist"]["rows"] for cell in row)
    assert "EfficientNet-Lite0" in exported["cost"]["rows"][0][0]  # the report's label, not the raw id


def test_exported_csv_carries_the_exact_stored_values(rendered, tmp_path: Path) -> None:
    out = tmp_path / "tables"
    assert CliRunner().invoke(cli, ["export", str(rendered["run"]), "--tables", str(out)]).exit_code == 0
    run = load_run(rendered["run"])
    with (out / "compare-pneumoniamnist.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(run.cells)
    for cell in run.cells:
        row = next(r for r in rows if r["strategy_value"] == cell.cell.strategy and int(r["seed_value"]) == cell.cell.seed)
        test = cell.metrics.test
        assert float(row["macro_f1_value"]) == test.macro_f1  # exact round trip of the stored float
        assert [float(row["auc_ci_lo"]), float(row["auc_ci_hi"])] == list(test.ci["auc"])
        assert row["backbone_value"] == cell.cell.backbone
    with (out / "cost.csv").open(newline="", encoding="utf-8") as f:
        cost = {r["cell_value"]: r for r in csv.DictReader(f)}
    assert set(cost) == {c.id for c in run.cells}
    for cell in run.cells:
        assert float(cost[cell.id]["params_trainable_value"]) == cell.arch.params_trainable


def test_export_tables_imports_neither_jinja_nor_matplotlib_nor_torch(rendered, tmp_path: Path) -> None:
    code = ("import sys\nfrom reportgen.export.formats import export_tables\n"
            f"export_tables({str(rendered['run'])!r}, {str(tmp_path)!r})\n"
            "print(sorted(m for m in ('jinja2', 'matplotlib', 'weasyprint', 'torch', 'docx') if m in sys.modules))\n")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                         cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
