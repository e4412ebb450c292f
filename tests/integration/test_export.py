"""`reportgen export` and `reportgen run --tensorboard` on a real run, read back with each tool's own reader.

One tiny real store per session (PneumoniaMNIST, 160 train images at 32 px, fine-tune + frozen,
2 epochs), trained through the real runner with the live TensorBoard writer switched on.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen import store
from reportgen.cli import cli
from reportgen.export import extras
from reportgen.export.formats import latex_escape
from reportgen.export.records import read_run
from reportgen.export.tables import dec, dec_ci, params, pct, pct_ci  # the report's, via one import
from tests.conftest import ROOT, tiny_npz_experiment

EPOCH_TAGS = {"train_loss": "loss/train", "val_loss": "loss/val", "train_acc": "accuracy/train",
              "val_acc": "accuracy/val", "train_macro_f1": "macro_f1/train", "val_macro_f1": "macro_f1/val",
              "val_auc": "auc/val", "lr": "lr"}


@pytest.fixture(scope="session")
def exported_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("export")
    old = os.environ.get("REPORTGEN_CACHE_DIR")
    os.environ["REPORTGEN_CACHE_DIR"] = str(tmp / "cache")
    try:
        toml = tiny_npz_experiment(tmp, strategies='["finetune", "frozen"]', n_train=160)
        result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress", "--no-checkpoints",
                                          "--tensorboard", str(tmp / "live")])
    finally:
        if old is None:
            os.environ.pop("REPORTGEN_CACHE_DIR", None)
        else:
            os.environ["REPORTGEN_CACHE_DIR"] = old
    assert result.exit_code == 0, result.output
    return {"run": tmp / "runs" / "tiny", "live": tmp / "live", "tmp": tmp}


def _events(logdir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    ea.Reload()
    return ea


def _hparams(ea) -> dict:
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = ea.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
              for k, v in start.session_start_info.hparams.items()}
    return {"hparams": values, "metrics": [m.name.tag for m in experiment.experiment.metric_infos]}


def _check_tensorboard_run(ea, cell: store.CellResult, *, derived_times: bool) -> None:
    scalars = ea.Tags()["scalars"]
    for column, tag in EPOCH_TAGS.items():
        logged = [getattr(row, column) for row in cell.epochs if getattr(row, column) is not None]
        assert tag in scalars, tag
        events = ea.Scalars(tag)
        assert len(events) == len(logged) == len(cell.epochs), tag  # one point per epoch, no duplicates
        assert [e.step for e in events] == [row.epoch for row in cell.epochs]
        assert [e.value for e in events] == pytest.approx(logged, rel=1e-6, abs=1e-7)
    walls = [e.wall_time for e in ea.Scalars("loss/train")]
    assert walls == sorted(walls)
    finished = store_time(cell.result.finished_at)
    started = finished - cell.result.wall_time_s
    assert started - 1 <= walls[0] and walls[-1] <= finished + 1
    if derived_times:  # start + cumulative epoch seconds (reportgen/export/records.py)
        cum = [started + sum(r.seconds for r in cell.epochs[:i + 1]) for i in range(len(cell.epochs))]
        assert walls == pytest.approx(cum, abs=1e-3)
    test = cell.metrics.test.model_dump()
    for m in ("accuracy", "macro_f1", "auc"):
        (event,) = ea.Scalars(f"test/{m}")
        assert event.value == pytest.approx(test[m], rel=1e-6)
    hp = _hparams(ea)
    assert hp["hparams"]["strategy"] == cell.cell.strategy
    assert hp["hparams"]["backbone"] == cell.cell.backbone
    assert hp["hparams"]["train.lr"] == pytest.approx(cell.cell.train["lr"])
    assert "hparam/test_macro_f1" in hp["metrics"] and not set(hp["metrics"]) & set(EPOCH_TAGS.values())


def store_time(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text).timestamp()


# --------------------------------------------------------------------------- TensorBoard
def test_live_tensorboard_has_every_epoch_at_real_times(exported_run: dict[str, Path]) -> None:
    run = store.load_run(exported_run["run"])
    assert len(run.cells) == 2
    assert sorted(p.name for p in exported_run["live"].iterdir()) == sorted(c.id for c in run.cells)
    for cell in run.cells:
        _check_tensorboard_run(_events(exported_run["live"] / cell.id), cell, derived_times=False)


def test_export_tensorboard_one_run_per_cell_and_reexport_replaces(exported_run: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    tb = tmp_path / "tb"
    for _ in range(2):  # the second export must replace the first, not add to it
        result = CliRunner().invoke(cli, ["export", str(exported_run["run"]), "--tensorboard", str(tb)])
        assert result.exit_code == 0, result.output
    run = store.load_run(exported_run["run"])
    assert sorted(p.name for p in tb.iterdir()) == sorted(c.id for c in run.cells)
    for cell in run.cells:
        _check_tensorboard_run(_events(tb / cell.id), cell, derived_times=True)
    strategies = {_hparams(_events(tb / c.id))["hparams"]["strategy"] for c in run.cells}
    assert strategies == {"finetune", "frozen"}


# --------------------------------------------------------------------------- MLflow
def _read_mlflow(uri: str, name: str) -> tuple:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(name)
    assert exp is not None
    return client, client.search_runs([exp.experiment_id])


def _check_mlflow(uri: str, run_dir: Path) -> dict[str, str]:
    run = store.load_run(run_dir)
    client, runs = _read_mlflow(uri, "tiny")
    assert len(runs) == len(run.cells)
    by_cell = {r.data.tags["reportgen.cell_id"]: r for r in runs}
    assert set(by_cell) == {c.id for c in run.cells}
    for cell in run.cells:
        r = by_cell[cell.id]
        tags = r.data.tags
        assert (tags["dataset"], tags["backbone"], tags["strategy"], tags["seed"]) == (
            "pnm", "efficientnet_lite0", cell.cell.strategy, "0")
        assert r.info.run_name == cell.id and r.info.status == "FINISHED"
        assert r.info.end_time == round(store_time(cell.result.finished_at) * 1000)
        assert r.info.start_time == round((store_time(cell.result.finished_at) - cell.result.wall_time_s) * 1000)
        test = cell.metrics.test.model_dump()
        for m in ("accuracy", "balanced_accuracy", "macro_f1", "auc"):
            assert r.data.metrics[f"test_{m}"] == pytest.approx(test[m], rel=1e-12)
        assert r.data.params["train.lr"] == str(cell.cell.train["lr"])
        assert r.data.params["strategy"] == cell.cell.strategy
        history = client.get_metric_history(r.info.run_id, "val_loss")
        assert sorted(m.step for m in history) == [row.epoch for row in cell.epochs]
        assert sorted(m.value for m in history) == pytest.approx(sorted(row.val_loss for row in cell.epochs))
        stamps = sorted(m.timestamp for m in history)
        assert r.info.start_time <= stamps[0] and stamps[-1] <= r.info.end_time
        artifacts = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert {"result.json", "metrics.json", "epochs.csv", "predictions_test.csv"} <= artifacts
    return {cid: r.info.run_id for cid, r in by_cell.items()}


def test_export_mlflow_default_sqlite_and_reexport_updates(exported_run: dict[str, Path]) -> None:
    run_dir = exported_run["run"]
    result = CliRunner().invoke(cli, ["export", str(run_dir), "--mlflow"])
    assert result.exit_code == 0, result.output
    assert "2 run(s) created, 0 updated" in result.output
    uri = f"sqlite:///{(run_dir / 'mlflow.db').resolve()}"
    assert (run_dir / "mlflow.db").is_file() and (run_dir / "mlartifacts").is_dir()
    first = _check_mlflow(uri, run_dir)
    again = CliRunner().invoke(cli, ["export", str(run_dir), "--mlflow", uri])
    assert again.exit_code == 0, again.output
    assert "0 run(s) created, 2 updated" in again.output
    assert _check_mlflow(uri, run_dir) == first  # same runs, same metric histories: updated, not duplicated


@pytest.mark.slow
def test_export_to_a_real_mlflow_server(exported_run: dict[str, Path], tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - must outlive the server, closed in finally
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start in 120 s"
            time.sleep(0.5)
        for _ in range(2):
            result = CliRunner().invoke(cli, ["export", str(exported_run["run"]), "--mlflow", uri])
            assert result.exit_code == 0, result.output
        _check_mlflow(uri, exported_run["run"])
        assert any((tmp_path / "artifacts").rglob("result.json"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


# --------------------------------------------------------------------------- tables
def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _check_latex(text: str, n_rows: int, n_cols: int) -> None:
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+)\}", text):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env, env
    assert not stack
    assert text.count(r"\toprule") == text.count(r"\midrule") == text.count(r"\bottomrule") == 1
    body = text.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    assert len(body) == n_rows
    for line in body:
        assert line.rstrip().endswith(r"\\")
        assert len(re.findall(r"(?<!\\)&", line)) == n_cols - 1
    code = "\n".join(line for line in text.splitlines() if not line.startswith("%"))
    assert not re.search(r"(?<!\\)[_%#]", code), "unescaped LaTeX special character"
    assert code.count("{") == code.count("}")


def test_export_tables_round_trip_and_well_formed(exported_run: dict[str, Path], tmp_path: Path) -> None:
    """The report's result tables (every run, pivots, cost) as CSV with exact values, LaTeX and Markdown."""
    out = tmp_path / "tables"
    result = CliRunner().invoke(cli, ["export", str(exported_run["run"]), "--tables", str(out)])
    assert result.exit_code == 0, result.output
    run = store.load_run(exported_run["run"])
    n = len(run.cells)

    every = _rows(out / "compare-pnm.csv")
    assert len(every) == n
    for cell in run.cells:
        row = next(r for r in every if r["strategy_value"] == cell.cell.strategy)
        test = cell.metrics.test.model_dump()
        for m in ("accuracy", "macro_f1"):
            assert float(row[f"{m}_value"]) == test[m]  # exact round trip of the stored value
            assert row[m].removesuffix(" †") == pct(test[m]) and row[f"{m}_sub"] == pct_ci(test["ci"][m])
            assert [float(row[f"{m}_ci_lo"]), float(row[f"{m}_ci_hi"])] == list(test["ci"][m])
        assert float(row["auc_value"]) == test["auc"] and row["auc"] == dec(test["auc"])
        assert row["auc_sub"] == dec_ci(test["ci"]["auc"])
        assert row["backbone_value"] == "efficientnet_lite0" and row["backbone"] == "EfficientNet-Lite0"

    (pivot,) = _rows(out / "pivot-pnm-macro-f1.csv")  # one dataset × one backbone
    for cell in run.cells:
        s = cell.cell.strategy
        assert float(pivot[f"{s}_macro_f1_value"]) == cell.metrics.test.macro_f1

    cost = {r["cell_value"]: r for r in _rows(out / "cost.csv")}
    for cell in run.cells:
        assert float(cost[cell.id]["params_trainable_value"]) == cell.arch.params_trainable
        assert cost[cell.id]["params_trainable"] == params(cell.arch.params_trainable)
        assert float(cost[cell.id]["wall_time_s_value"]) == cell.result.wall_time_s

    _check_latex((out / "compare-pnm.tex").read_text(encoding="utf-8"), n_rows=n, n_cols=6)
    _check_latex((out / "cost.tex").read_text(encoding="utf-8"), n_rows=n, n_cols=8)
    pivot_tex = (out / "pivot-pnm-auc.tex").read_text(encoding="utf-8")
    _check_latex(pivot_tex, n_rows=1, n_cols=3)
    assert "EfficientNet-Lite0" in pivot_tex and "Fine-tuning" in pivot_tex
    for name, rows in (("compare-pnm", n), ("cost", n), ("pivot-pnm-auc", 1)):
        md = (out / f"{name}.md").read_text(encoding="utf-8")
        table = [line for line in md.splitlines() if line.startswith("|")]
        assert len(table) == 2 + rows and re.fullmatch(r"\|(:?---:?\|)+", table[1])
        assert len({line.count(" | ") for line in table[:1] + table[2:]}) == 1  # same column count everywhere


def test_latex_escape_special_characters() -> None:
    assert latex_escape("efficientnet_lite0 50% #1 & $x$ {a} 83.1–90.2 ~^\\") == (
        r"efficientnet\_lite0 50\% \#1 \& \$x\$ \{a\} 83.1--90.2 \textasciitilde{}\textasciicircum{}"
        r"\textbackslash{}")


def test_zh_tw_tables_use_the_catalog(exported_run: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(exported_run["run"]), "--tables", str(tmp_path), "--lang", "zh-TW"])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "compare-pnm.md").read_text(encoding="utf-8")
    assert "準確率 (%)" in md and "微調" in md and "Fine-tuning" not in md and md.startswith("**表 ")


# --------------------------------------------------------------------------- errors and imports
@pytest.mark.parametrize(("option", "extra"), [("--mlflow", "mlflow"), ("--tensorboard", "tensorboard")])
def test_missing_extra_names_the_pip_extra(exported_run: dict[str, Path], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, option: str, extra: str) -> None:
    real = extras.importlib.import_module

    def fail(name: str, *args, **kwargs):
        if name == extra:
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(extras.importlib, "import_module", fail)
    args = ["export", str(exported_run["run"]), option] + ([str(tmp_path / "x")] if option == "--tensorboard" else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert f"pip install 'reportgen[{extra}]'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_export_errors_are_clean(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(tmp_path), "--tables", str(tmp_path / "t")])
    assert result.exit_code == 2 and "run.json is missing" in result.output
    result = CliRunner().invoke(cli, ["export", str(tmp_path)])
    assert result.exit_code == 2 and "nothing to export" in result.output


def test_tables_and_mlflow_export_never_import_torch(exported_run: dict[str, Path], tmp_path: Path) -> None:
    code = ("import sys\nfrom click.testing import CliRunner\nfrom reportgen.cli import cli\n"
            f"r = CliRunner().invoke(cli, ['export', {str(exported_run['run'])!r}, '--tables', {str(tmp_path)!r},"
            f" '--mlflow', 'sqlite:///{tmp_path / 'm.db'}'])\n"
            "assert r.exit_code == 0, r.output\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT,
                         timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert json.loads((exported_run["run"] / "run.json").read_text())["name"] == "tiny"
    assert len(read_run(exported_run["run"]).cells) == 2


def test_tables_with_an_unfinished_cell(tmp_path: Path, real_store: Path) -> None:
    """A real store (3 strategies × 2 seeds) with one cell unfinished: the tables say "not run" where the
    report does, and list the finished cells' exact values."""
    import shutil

    run_dir = tmp_path / "store"
    shutil.copytree(real_store, run_dir)
    missing = next(p for p in (run_dir / "cells").iterdir() if "-frozen-s0-" in p.name)
    (missing / "result.json").unlink()
    result = CliRunner().invoke(cli, ["export", str(run_dir), "--tables", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert "1 planned cell(s) are unfinished" in result.output
    finished = store.load_run(run_dir)
    every = _rows(tmp_path / "t" / "compare-pneumoniamnist.csv")
    ft = next(c for c in finished.cells if "-finetune-s0-" in c.id)
    row = next(r for r in every if r["strategy_value"] == "finetune" and r["seed_value"] == "0")
    assert float(row["accuracy_value"]) == ft.metrics.test.accuracy
    gap = next(r for r in every if r["strategy_value"] == "frozen" and r["seed_value"] == "0")
    assert gap["accuracy"] == "not run" and gap["accuracy_value"] == ""
    assert "not run" in {r["frozen_macro_f1"] for r in _rows(tmp_path / "t" / "pivot-pneumoniamnist-macro-f1.csv")}
    cost = _rows(tmp_path / "t" / "cost.csv")
    assert len([r for r in cost if r["cell_value"]]) == 5 and len(cost) == 6  # + the "not run" row
    _check_latex((tmp_path / "t" / "compare-pneumoniamnist.tex").read_text(encoding="utf-8"), n_rows=6, n_cols=7)
