"""Paired comparisons: McNemar, DeLong, paired bootstrap, Holm and the cell matrix."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

from reportgen.describe import compare as C

# --------------------------------------------------------------------------- McNemar


def _discordant(b: int, c: int, agree: int = 5):
    """Correctness vectors with b samples only a gets right and c only b gets right."""
    a = [True] * b + [False] * c + [True] * agree
    bb = [False] * b + [True] * c + [True] * agree
    return np.array(a), np.array(bb)


def test_mcnemar_exact_branch_by_hand():
    # b + c = 13 < 25: P(X <= 3), X ~ Bin(13, 1/2) = (1 + 13 + 78 + 286) / 8192 = 378 / 8192.
    out = C.mcnemar(*_discordant(3, 10))
    assert (out["b"], out["c"], out["method"]) == (3, 10, "exact")
    assert out["statistic"] == 3
    assert out["p_value"] == pytest.approx(2 * 378 / 8192, rel=1e-12)


def test_mcnemar_chi_square_branch_by_hand():
    # b + c = 35 >= 25: (|10 - 25| - 1)^2 / 35 = 196 / 35 = 5.6, 1 d.f.;
    # P(chi2_1 >= 5.6) = P(|Z| >= sqrt(5.6)) = 0.017960... (tables: 0.0180).
    out = C.mcnemar(*_discordant(10, 25))
    assert out["method"] == "chi2_cc"
    assert out["statistic"] == pytest.approx(5.6)
    assert out["p_value"] == pytest.approx(0.0179605, abs=1e-6)


def test_mcnemar_matches_scipy_and_handles_no_discordance():
    from scipy import stats

    out = C.mcnemar(*_discordant(7, 2))
    assert out["p_value"] == pytest.approx(stats.binomtest(2, 9, 0.5).pvalue, rel=1e-12)
    out = C.mcnemar(*_discordant(30, 12))
    assert out["p_value"] == pytest.approx(stats.chi2.sf((18 - 1) ** 2 / 42, 1), rel=1e-12)
    assert C.mcnemar(*_discordant(0, 0))["p_value"] == 1.0


# --------------------------------------------------------------------------- DeLong


def _delong_bruteforce(y, sa, sb):
    """DeLong et al. (1988) directly: O(m n) kernel psi, structural components V10 / V01."""
    pos, neg = y == 1, y == 0
    comps = []
    for s in (sa, sb):
        x, z = s[pos][:, None], s[neg][None, :]
        psi = (x > z) + 0.5 * (x == z)
        comps.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    (auc_a, v10a, v01a), (auc_b, v10b, v01b) = comps
    m, n = pos.sum(), neg.sum()
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    cov = s10 / m + s01 / n
    return auc_a, auc_b, cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]


def test_delong_matches_bruteforce_and_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 150)
    sa = np.round(rng.normal(size=150) + 1.0 * y, 1)  # rounding creates many ties
    sb = np.round(0.6 * sa + rng.normal(size=150) * 0.8, 1)
    out = C.delong(y, sa, sb)
    auc_a, auc_b, var = _delong_bruteforce(y, sa, sb)
    assert out["auc_a"] == pytest.approx(roc_auc_score(y, sa), abs=1e-12)
    assert out["auc_b"] == pytest.approx(roc_auc_score(y, sb), abs=1e-12)
    assert out["auc_a"] == pytest.approx(auc_a, abs=1e-12)
    assert out["se"] ** 2 == pytest.approx(var, rel=1e-10)
    assert out["z"] == pytest.approx((auc_a - auc_b) / math.sqrt(var), rel=1e-10)


def test_delong_identical_curves():
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.8, 0.3, 0.6, 0.4, 0.5])
    out = C.delong(y, s, s)
    assert (out["diff"], out["z"], out["p_value"]) == (0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="2 samples of each class"):
        C.delong([1, 1, 1, 0], s[:4], s[:4])


# pROC's example data set aSAH (Turck et al., Intensive Care Med 36:107-115, 2010; shipped with
# the R package pROC), 113 patients, y = outcome == "Poor" (41 positives). The vectors were
# transcribed from a public Python test that copied them out of R; their correctness is checked
# below by reproducing pROC's *own* regression numbers, from xrobin/pROC
# tests/testthat/test-roc.test.R ("roc.test statistic and p are as expected with defaults"):
#   roc.test(r.wfns, r.s100b): Z = 2.20898359144091,  p = 0.0271757822291882,
#                              CI = [0.0104061769564846, 0.174214419249478]
#   roc.test(r.ndka, r.s100b): Z = -1.39077002573558, p = 0.164295175223054,
#                              CI = [-0.2876917446341914, 0.0488706064228094]
# and the AUCs quoted in pROC's documentation (s100b 0.7314, wfns 0.8237, ndka 0.6120).
ASAH_Y = [
    0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0,
    0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0,
    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0,
    0,
]  # fmt: skip
ASAH_S100B = [
    0.13, 0.14, 0.1, 0.04, 0.13, 0.1, 0.47, 0.16, 0.18, 0.1, 0.12, 0.1, 0.44, 0.71,
    0.04, 0.08, 0.49, 0.04, 0.07, 0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11,
    0.13, 0.19, 0.05, 0.16, 0.41, 0.14, 0.34, 0.35, 0.48, 0.09, 0.96, 0.25, 0.5, 0.46,
    0.16, 0.07, 0.43, 0.45, 0.11, 0.08, 0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.1,
    0.14, 0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.3, 0.03, 0.09, 0.04, 0.23, 0.7, 0.09,
    0.27, 0.71, 0.08, 0.26, 0.08, 0.16, 0.09, 0.13, 0.1, 0.08, 0.11, 0.33, 0.11, 0.28,
    0.07, 0.1, 0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.1, 0.15, 0.08, 0.14, 0.1, 0.07,
    0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.5,
    0.48,
]  # fmt: skip
ASAH_WFNS = [
    1, 1, 1, 1, 3, 2, 5, 4, 1, 2, 5, 2, 5, 5, 1, 2, 5, 2, 2, 5, 2, 1, 1, 1, 1, 2, 1, 2,
    1, 1, 3, 4, 2, 1, 4, 5, 4, 1, 4, 2, 5, 5, 1, 1, 2, 4, 1, 1, 2, 5, 5, 2, 1, 2, 5, 1,
    2, 2, 2, 1, 5, 1, 1, 2, 5, 2, 1, 4, 5, 2, 4, 4, 1, 4, 1, 2, 1, 4, 2, 1, 2, 3, 2, 4,
    2, 1, 4, 5, 1, 1, 5, 4, 2, 2, 1, 1, 1, 3, 1, 2, 5, 2, 2, 5, 5, 5, 2, 4, 4, 5, 1, 1,
    1,
]  # fmt: skip
ASAH_NDKA = [
    3.01, 8.54, 8.09, 10.42, 17.4, 12.75, 6.0, 13.2, 15.54, 6.01, 15.96, 17.86, 5.18,
    8.9, 13.41, 20.75, 11.6, 16.11, 32.37, 54.82, 32.41, 49.94, 40.34, 9.47, 6.29,
    12.53, 6.54, 6.3, 80.3, 12.8, 9.8, 9.81, 9.85, 18.21, 5.03, 14.04, 21.93, 8.02,
    7.42, 8.38, 6.59, 9.63, 13.12, 7.96, 14.34, 41.43, 7.63, 7.06, 12.59, 13.56, 3.87,
    9.44, 7.66, 12.98, 419.19, 27.19, 22.27, 9.95, 21.22, 11.73, 10.4, 58.83, 6.39,
    11.09, 12.22, 13.67, 17.21, 22.63, 12.9, 9.7, 21.57, 8.23, 72.57, 15.54, 10.51,
    10.6, 14.57, 5.19, 9.63, 4.61, 21.48, 17.3, 12.71, 9.44, 11.07, 19.46, 10.83, 5.37,
    11.97, 7.75, 9.83, 10.55, 28.49, 8.53, 12.57, 12.9, 46.83, 11.68, 12.67, 9.01, 9.57,
    34.06, 11.72, 14.26, 47.61, 11.67, 24.58, 10.33, 13.87, 15.89, 22.43, 6.79, 13.45,
]  # fmt: skip


@pytest.mark.parametrize(
    ("marker", "z", "p", "ci"),
    [
        (ASAH_WFNS, 2.20898359144091, 0.0271757822291882, (0.0104061769564846, 0.174214419249478)),
        (ASAH_NDKA, -1.39077002573558, 0.164295175223054, (-0.2876917446341914, 0.0488706064228094)),
    ],
    ids=["wfns-vs-s100b", "ndka-vs-s100b"],
)
def test_delong_reproduces_proc_roc_test_on_asah(marker, z, p, ci):
    y = np.array(ASAH_Y)
    assert (len(y), int(y.sum())) == (113, 41)
    out = C.delong(y, np.array(marker, dtype=float), np.array(ASAH_S100B))
    assert out["auc_b"] == pytest.approx(0.7314, abs=5e-5)
    assert out["z"] == pytest.approx(z, rel=1e-9)
    assert out["p_value"] == pytest.approx(p, rel=1e-9)
    assert out["ci"] == pytest.approx(list(ci), rel=1e-9)


def test_asah_aucs_match_proc_documentation():
    y = np.array(ASAH_Y)
    for marker, auc in ((ASAH_WFNS, 0.8237), (ASAH_NDKA, 0.6120)):
        assert C.delong(y, np.array(marker, dtype=float), np.array(ASAH_S100B))["auc_a"] == pytest.approx(
            auc, abs=5e-5
        )


# --------------------------------------------------------------------------- bootstrap and Holm


def _two_models(rng, n=200, k=2, gap=1.0):
    y = rng.integers(0, k, n)
    out = []
    for signal in (1.0 + gap, 1.0):
        logits = rng.normal(size=(n, k))
        logits[np.arange(n), y] += signal
        e = np.exp(logits)
        out.append(e / e.sum(axis=1, keepdims=True))
    return y, out[0], out[1]


def test_paired_bootstrap_fast_and_callable_paths_agree():
    rng = np.random.default_rng(1)
    y, pa, pb = _two_models(rng)

    def accuracy(yy, pp):
        return float(np.mean(pp.argmax(axis=1) == yy))

    fast = C.paired_bootstrap(y, pa, pb, "accuracy", n_boot=300, seed=3)
    slow = C.paired_bootstrap(y, pa, pb, accuracy, n_boot=300, seed=3)
    for key in ("diff", "p_value", "value_a", "value_b"):
        assert fast[key] == pytest.approx(slow[key], abs=1e-12)
    assert fast["ci"] == pytest.approx(slow["ci"], abs=1e-12)
    assert fast["diff"] == pytest.approx(accuracy(y, pa) - accuracy(y, pb))
    assert fast["ci"][0] <= fast["diff"] <= fast["ci"][1]


def test_paired_bootstrap_same_model_has_p_one_and_zero_ci():
    rng = np.random.default_rng(2)
    y, pa, _ = _two_models(rng)
    out = C.paired_bootstrap(y, pa, pa.copy(), "macro_f1", n_boot=200)
    assert out["diff"] == 0.0 and out["ci"] == [0.0, 0.0] and out["p_value"] == 1.0


def test_paired_bootstrap_detects_a_large_difference():
    rng = np.random.default_rng(3)
    y, pa, pb = _two_models(rng, n=400, gap=3.0)
    out = C.paired_bootstrap(y, pa, pb, "accuracy", n_boot=500)
    assert out["diff"] > 0 and out["ci"][0] > 0 and out["p_value"] < 0.01


def test_holm_by_hand():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    assert C.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert C.holm([0.5, 0.6]) == [1.0, 1.0]
    assert C.holm([0.02, None, 0.04]) == [0.04, None, 0.04]
    assert C.holm([]) == []


# --------------------------------------------------------------------------- pairs and cells


def test_compare_pair_binary_and_multiclass():
    rng = np.random.default_rng(4)
    y, pa, pb = _two_models(rng, n=150)
    out = C.compare_pair(y, pa, pb, n_boot=200)
    json.dumps(out, allow_nan=False)
    assert out["auc"]["method"] == "delong"
    assert out["accuracy"]["method"] == "mcnemar"
    assert out["accuracy"]["p_value"] == out["accuracy"]["mcnemar"]["p_value"]
    mc = C.mcnemar(pa.argmax(1) == y, pb.argmax(1) == y)
    assert out["accuracy"]["mcnemar"] == mc
    assert out["macro_f1"]["method"] == "paired_bootstrap"

    y3, pa3, pb3 = _two_models(rng, n=150, k=3)
    out3 = C.compare_pair(y3, pa3, pb3, n_boot=200)
    json.dumps(out3, allow_nan=False)
    assert out3["auc"]["method"] == "paired_bootstrap"
    assert out3["auc"]["ci"][0] <= out3["auc"]["diff"] <= out3["auc"]["ci"][1]


def _cells(rng):
    y, _, _ = _two_models(rng, n=120)
    cells = []
    for backbone in ("resnet18", "densenet121"):
        for strategy, signal in (("finetune", 2.5), ("frozen", 1.5), ("scratch", 0.5)):
            logits = rng.normal(size=(len(y), 2))
            logits[np.arange(len(y)), y] += signal
            probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            cells.append(
                {"id": f"d-{backbone}-{strategy}-s0", "dataset": "d", "backbone": backbone,
                 "strategy": strategy, "seed": 0, "labels": y, "probs": probs}
            )  # fmt: skip
    return cells


def test_compare_cells_builds_the_expected_pairs_with_holm():
    rows = C.compare_cells(_cells(np.random.default_rng(5)), n_boot=100)
    json.dumps(rows, allow_nan=False)
    strategy_pairs = {
        (r["backbone"], r["strategy_a"], r["strategy_b"]) for r in rows if r["kind"] == "strategy"
    }
    assert strategy_pairs == {
        (bk, a, b)
        for bk in ("resnet18", "densenet121")
        for a, b in (("finetune", "scratch"), ("frozen", "scratch"), ("finetune", "frozen"))
    }
    backbone_pairs = {(r["strategy"], r["a"], r["b"]) for r in rows if r["kind"] == "backbone"}
    assert backbone_pairs == {
        (s, f"d-resnet18-{s}-s0", f"d-densenet121-{s}-s0") for s in ("finetune", "frozen", "scratch")
    }
    assert len(rows) == 9
    for metric in ("accuracy", "macro_f1", "auc"):
        ps = [r[metric]["p_value"] for r in rows]
        assert [r[metric]["p_adjusted"] for r in rows] == pytest.approx(C.holm(ps))
        for r in rows:
            assert r[metric]["p_value"] <= r[metric]["p_adjusted"] <= 1.0
    # finetune (strong signal) vs scratch (weak): a - b is positive.
    row = next(r for r in rows if r["kind"] == "strategy" and r["strategy_b"] == "scratch")
    assert row["accuracy"]["diff"] > 0


def test_compare_cells_skips_different_test_sets_with_a_warning(caplog):
    cells = _cells(np.random.default_rng(6))
    odd = next(c for c in cells if c["id"] == "d-densenet121-scratch-s0")
    odd["labels"] = 1 - odd["labels"]
    with caplog.at_level(logging.WARNING, logger="reportgen.describe.compare"):
        rows = C.compare_cells(cells, n_boot=50)
    assert not any("d-densenet121-scratch-s0" in (r["a"], r["b"]) for r in rows)
    assert len(rows) == 9 - 3  # two strategy pairs and one backbone pair lost
    assert any("test labels differ" in rec.getMessage() for rec in caplog.records)


def test_compare_cells_without_scratch_or_pairs():
    cells = [c for c in _cells(np.random.default_rng(7)) if c["backbone"] == "resnet18"]
    cells = [c for c in cells if c["strategy"] != "scratch"]
    rows = C.compare_cells(cells, n_boot=50)
    assert [(r["strategy_a"], r["strategy_b"]) for r in rows] == [("finetune", "frozen")]
    assert C.compare_cells([], n_boot=10) == []
