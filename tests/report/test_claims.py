"""Claims checked like numbers: a runner-made store, one stored prediction edited, check and render refuse.

A from-scratch cell whose scores span only float noise is degenerate; the description step says so ("no AUC,
threshold or ranking ability is credited"). Editing one row of predictions_test.csv so the scores vary flips
that claim's condition, and both `check` and `render` must exit 2 naming the claim. The runner-made store's
cells all learn now (precise BatchNorm statistics), so the degenerate cell is written into a copy of it through
the store's own writers and scorer (``build_generated``), with the other cell learning.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.describe.claims import Claim


def _claims(store: Path) -> list[Claim]:
    return [Claim.from_json(d) for d in json.loads((store / "analysis" / "claims.json").read_text())["claims"]]


def _edit_one_prediction(path: Path) -> None:
    rows = list(csv.reader(path.open(encoding="utf-8")))
    header, first = rows[0], rows[1]
    k = len(header) - header.index("prob_0")
    first[header.index("prob_0"):] = [f"{0.9 if j == 0 else 0.1 / (k - 1)!r}" for j in range(k)]
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def test_check_counts_claims_and_an_edited_prediction_flips_a_claim(real_store: Path, tmp_path: Path) -> None:
    from test_claims_generated import build_generated

    store_copy = build_generated(real_store, tmp_path / "store", backbones=["efficientnet_lite0"],
                                 strategies=["finetune", "scratch"], seeds=[0], k=2, ordinal=False,
                                 outcomes=["good", "degenerate"], unfinished=0, skip_one=False, seed=3)
    ok = CliRunner().invoke(cli, ["check", str(store_copy)])
    assert ok.exit_code == 0, ok.output
    n = len(_claims(store_copy))
    assert f"{n} claims verified" in ok.output and n > 3
    degenerate = [c for c in _claims(store_copy) if c.kind == "scores" and c.outcome == "degenerate"]
    assert degenerate, "the generated store's degenerate scratch cell should be described as degenerate"
    target = degenerate[0]
    _edit_one_prediction(store_copy / "cells" / target.cells[0] / "predictions_test.csv")
    bad = CliRunner().invoke(cli, ["check", str(store_copy)])
    assert bad.exit_code == 2, bad.output
    assert target.id in bad.output and "degenerate" in bad.output
    rendered = CliRunner().invoke(cli, ["render", str(store_copy), "--lang", "en", "-j", "1"])
    assert rendered.exit_code == 2, rendered.output
    assert target.id in rendered.output
    assert not (store_copy / "report.en.html").exists()


def test_rendered_sentences_are_the_claims_in_both_languages(store_copy: Path) -> None:
    from reportgen.describe.persist import ensure_description
    from reportgen.report.context import build_context
    from reportgen.report.model import Paragraph
    from reportgen.store import load_run

    run = load_run(store_copy)
    analysis = ensure_description(run)
    for lang in ("en", "zh-TW"):
        ctx = build_context(run, analysis, lang)
        paras = [blk.text for s in ctx.sections for blk in s.blocks if isinstance(blk, Paragraph)]
        text = "\n".join(paras)
        assert "(s)" not in text
        assert len(paras) == len(set(paras)), "a paragraph is repeated"
        assert "highest" not in text or "1 of 1" not in text
        if lang == "zh-TW":
            assert "。 " not in text and "， " not in text
    # The headline is chosen on validation: the cells it names have the best mean validation macro-F1.
    head = next(c for c in analysis.claims if c.kind == "headline")
    by_cfg: dict[tuple, list[float]] = {}
    for c in run.cells:
        by_cfg.setdefault((c.cell.backbone, c.cell.strategy), []).append(c.metrics.val.macro_f1)
    collapsed = {(c.values["backbone"], c.values["strategy"]) for c in analysis.claims
                 if c.kind == "scores" and c.outcome == "degenerate"}
    best = max((k for k in by_cfg if k not in collapsed), key=lambda k: sum(by_cfg[k]) / len(by_cfg[k]))
    assert head.outcome == "|".join(best)


def test_the_description_is_read_when_fresh_and_recomputed_when_older_or_stale(store_copy: Path) -> None:
    import hashlib

    from reportgen.describe.persist import CLAIMS_VERSION, analysis_paths, ensure_description, inputs_hash
    from reportgen.store import load_run

    run = load_run(store_copy)
    first = ensure_description(run)
    paths = analysis_paths(store_copy)
    manifest = json.loads(paths["description"].read_text())
    assert manifest["inputs"] == inputs_hash(run) == first.inputs
    again = ensure_description(load_run(store_copy))  # fresh: read back, typed, equal
    assert (again.claims, again.comparisons, again.seeds, again.findings, again.cells) == (
        first.claims, first.comparisons, first.seeds, first.findings, first.cells)
    # claims.json of an older version (its hash in the manifest updated too) is recomputed, never trusted.
    data = json.loads(paths["claims"].read_text())
    data.update(version=CLAIMS_VERSION - 1, claims=[])
    paths["claims"].write_text(json.dumps(data))
    manifest["files"]["claims.json"] = hashlib.sha256(paths["claims"].read_bytes()).hexdigest()
    paths["description"].write_text(json.dumps(manifest))
    assert ensure_description(load_run(store_copy)).claims == first.claims
    assert json.loads(paths["claims"].read_text())["version"] == CLAIMS_VERSION
    # A finished cell gone from the store changes the inputs: described again, without it.
    gone = run.cells[-1]
    (gone.path / "result.json").unlink()
    fewer = ensure_description(load_run(store_copy))
    assert fewer.inputs != first.inputs and gone.id not in fewer.cells
    assert all(gone.id not in (r.a, r.b) for r in fewer.comparisons)
    assert json.loads(paths["description"].read_text())["inputs"] == fewer.inputs
