"""The strategy and metric registries say true things: every kernel computes what metrics.json stores, every
wording key exists in both languages, every view is what its readers used to spell out, and config, matrix and
the report read them."""

from __future__ import annotations

import numpy as np
import pytest

from reportgen.describe import metrics as kernels
from reportgen.i18n import LANGS, catalog
from reportgen.registry import metrics as metric_registry
from reportgen.registry import strategies as strategy_registry


@pytest.mark.parametrize("k", [2, 3])
def test_every_metric_kernel_equals_what_summarize_stores(k: int) -> None:
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 60)
    probs = rng.dirichlet(np.ones(k), 60)
    stored = kernels.summarize(y, probs, class_names=[f"c{i}" for i in range(k)], n_boot=0)
    for m in metric_registry.REGISTRY:
        assert kernels.kernel(m.name)(y, probs) == pytest.approx(stored[m.name], abs=1e-12), m.name


def test_vectorised_metrics_are_the_ones_the_bootstrap_computes_from_weights() -> None:
    rng = np.random.default_rng(0)
    y, probs = rng.integers(0, 2, 40), rng.dirichlet(np.ones(2), 40)
    for name in metric_registry.VECTORISED:
        assert kernels.weighted_metric(name, y, probs, np.ones(40))[0] == pytest.approx(kernels.kernel(name)(y, probs))
    with pytest.raises(ValueError):
        kernels.weighted_metric("ece", y, probs, np.ones(40))


def test_metrics_json_ci_keys_are_the_registry_ci_view_in_stored_order() -> None:
    rng = np.random.default_rng(1)
    out = kernels.summarize(rng.integers(0, 2, 30), rng.dirichlet(np.ones(2), 30), class_names=["a", "b"], n_boot=5)
    assert tuple(out["ci"]) == metric_registry.CI


def test_every_wording_key_exists_in_every_language() -> None:
    for lang in LANGS:
        cat = catalog(lang)
        for m in metric_registry.REGISTRY:
            assert m.label_key is None or m.label_key in cat, (lang, m.name)
            if "figure" in m.roles:
                assert f"report.fig.{m.name}" in cat
        for s in strategy_registry.REGISTRY:
            assert s.wording_key("name") in cat and s.wording_key("desc") in cat, (lang, s.name)
            assert s.wording(lang) == cat[f"report.strategy.{s.name}.name"]


def test_metric_facts() -> None:
    for m in metric_registry.REGISTRY:
        assert m.fmt in ("pct", "dec") and m.tasks <= metric_registry.ALL_TASKS and m.tasks
        assert callable(kernels.kernel(m.name))
    assert not metric_registry.get("ece").higher_is_better and not metric_registry.get("loss").higher_is_better
    assert metric_registry.ORDINAL_ONLY == ("kappa_quadratic",)
    assert set(metric_registry.COMPARED) <= set(metric_registry.HEADLINE) <= set(metric_registry.TABLE)


def test_report_formatters_follow_the_registry() -> None:
    from reportgen.report.format import dec, metric_formatters, pct

    for m in metric_registry.REGISTRY:
        assert metric_formatters(m.name)[0] is (pct if m.fmt == "pct" else dec)


def test_strategy_views() -> None:
    assert strategy_registry.ordered(["scratch", "mystery", "warmup", "finetune"]) == [
        "finetune", "warmup", "scratch", "mystery"]
    assert set(strategy_registry.NEEDS_PRETRAINED) == {s.name for s in strategy_registry.REGISTRY
                                                       if s.semantics["init"] == "pretrained"}
    m = strategy_registry.CELL_ID.match("pneumoniamnist-resnet18-warmup-s3-0a1b2c3d")
    assert m and m["strategy"] == "warmup" and m["seed"] == "3" and m["rest"] == "pneumoniamnist-resnet18"
    for s in strategy_registry.REGISTRY:
        assert s.stages and all(st.trains in ("head", "all") for st in s.stages)
        assert strategy_registry.frozen_epochs(s.name, epochs=4, warmup_frozen_epochs=2) == sum(
            strategy_registry.stage_at(s.name, e, warmup_frozen_epochs=2).trains == "head" for e in range(1, 5))


def test_config_matrix_and_report_read_the_registry() -> None:
    from reportgen.config import STRATEGIES, matrix
    from reportgen.export import records
    from reportgen.report import builder
    from reportgen.store import schema

    assert set(STRATEGIES) == set(strategy_registry.NAMES)
    assert builder.STRATEGY_ORDER == strategy_registry.NAMES
    assert matrix.NEEDS_PRETRAINED == strategy_registry.NEEDS_PRETRAINED
    assert builder.parse_cell_id("ds-bb-frozen-s0-deadbeef")["strategy"] == "frozen"
    assert records.TEST_METRICS == metric_registry.TABLE and schema.HEADLINE == metric_registry.HEADLINE


def test_an_unknown_strategy_is_refused_with_the_registry_names(tmp_path) -> None:
    from reportgen.config import load_experiment
    from reportgen.errors import ConfigError
    from tests.conftest import tiny_npz_experiment

    with pytest.raises(ConfigError) as err:
        load_experiment(tiny_npz_experiment(tmp_path, strategies='["finetune", "linearprobe", "frozn"]'))
    text = str(err.value)
    assert 'unknown strategy "linearprobe"' in text and "one of finetune, frozen, scratch, warmup" in text
    assert "use finetune, frozen, scratch or warmup" in text and 'did you mean "frozen"?' in text


def test_the_registries_import_neither_torch_nor_numpy() -> None:
    """Config, the store's schema and render read them: they must stay at the bottom of the import graph."""
    import subprocess
    import sys

    code = ("import sys, reportgen.registry.strategies, reportgen.registry.metrics; "
            "print(sorted(m for m in ('torch', 'torchvision', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
