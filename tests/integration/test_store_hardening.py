"""Tampered stores, failed runs and symbolic links: exit 2 with one message, and nothing damaged.

All cases share one store trained once by the real runner (``trained_store``); each test works on
its own copy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.store import load_run
from tests.integration.conftest import snapshot, store_toml


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.count("error:") == 1, result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)


def only_cell(store: Path) -> Path:
    (cell,) = (store / "cells").iterdir()
    return cell


# --------------------------------------------------------------------------- a failed run changes nothing
FAILED_RUNS: dict[str, tuple[Callable[[Path, Path], Path], list[str], list[str]]] = {
    "lr nan": (lambda t, o: store_toml(t, o, train="lr = nan"), [], ["train.lr"]),
    "lr inf": (lambda t, o: store_toml(t, o, train="lr = inf"), [], ["train.lr"]),
    "seeds [-1]": (lambda t, o: store_toml(t, o, experiment="seeds = [-1]"), [], ["experiment.seeds"]),
    "label_smoothing 5": (lambda t, o: store_toml(t, o, train="label_smoothing = 5"), [], ["train.label_smoothing"]),
    "device cuda": (lambda t, o: store_toml(t, o), ["--device", "cuda"], ["--device", "not available"]),
    "device banana": (lambda t, o: store_toml(t, o), ["--device", "banana"], ["--device", "unknown device"]),
    "device cuda:7": (lambda t, o: store_toml(t, o), ["--device", "cuda:7"], ["--device"]),
    "weights text file": (lambda t, o: _weights_text(t, o), [], ["w.pth", "not a PyTorch weights file"]),
}


def _weights_text(t: Path, out: Path) -> Path:
    (t / "w.pth").write_text("these are not weights\n")
    return store_toml(t, out, experiment='strategies = ["finetune"]',
                      backbone=f'name = "resnet18"\nweights = "{t / "w.pth"}"')


@pytest.mark.parametrize("case", list(FAILED_RUNS))
def test_failed_run_leaves_the_store_byte_identical(store_copy: Path, tmp_path: Path, case: str) -> None:
    make, extra, needles = FAILED_RUNS[case]
    toml = make(tmp_path, store_copy.parent)
    before = snapshot(store_copy)
    result = invoke("run", toml, "--no-progress", *extra)
    assert_one_error(result, *needles)
    assert snapshot(store_copy) == before


def test_store_still_renders_after_a_failed_run(store_copy: Path, tmp_path: Path) -> None:
    result = invoke("run", store_toml(tmp_path, store_copy.parent, train="lr = nan"), "--no-progress")
    assert result.exit_code == 2
    cell = only_cell(store_copy).name
    out = invoke("render", store_copy, "--lang", "en", "--jobs", "1")
    assert out.exit_code == 0, out.output
    assert cell in json.loads((store_copy / "run.json").read_text())["cells"]
    assert "no finished cell" not in out.output
    assert (store_copy / "report.html").stat().st_size > 10_000


def test_a_rerun_with_another_matrix_keeps_finished_cells_in_run_json(store_copy: Path, tmp_path: Path) -> None:
    cell = only_cell(store_copy).name
    # Another seed, and --only matching nothing: run.json is rewritten, nothing is trained.
    toml = store_toml(tmp_path, store_copy.parent, experiment="seeds = [1]")
    result = invoke("run", toml, "--no-progress", "--only", "no-such-cell")
    assert result.exit_code == 0, result.output
    cells = json.loads((store_copy / "run.json").read_text())["cells"]
    assert cell in cells and any(c.endswith(tuple("0123456789abcdef")) and "-s1-" in c for c in cells)
    assert [c.id for c in load_run(store_copy).cells] == [cell]


def test_load_run_finds_finished_cells_that_run_json_does_not_list(store_copy: Path) -> None:
    run = json.loads((store_copy / "run.json").read_text())
    cell = run["cells"][0]
    run["cells"] = []
    (store_copy / "run.json").write_text(json.dumps(run))
    assert [c.id for c in load_run(store_copy).cells] == [cell]


# --------------------------------------------------------------------------- tampered stores → render
def _write(rel: str, data: bytes | str) -> Callable[[Path], str]:
    def tamper(store: Path) -> str:
        path = store / rel.replace("CELL", only_cell(store).name)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return path.name

    return tamper


def _edit_csv(rel: str, edit: Callable[[list[str]], list[str]]) -> Callable[[Path], str]:
    def tamper(store: Path) -> str:
        path = store / rel.replace("CELL", only_cell(store).name)
        path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
        return path.name

    return tamper


def _replace_field(lines: list[str], row: int, col: int, value: str) -> list[str]:
    fields = lines[row].split(",")
    fields[col] = value
    return lines[:row] + [",".join(fields)] + lines[row + 1:]


TAMPERED: dict[str, tuple[Callable[[Path], str], list[str]]] = {
    "run.json is a list": (_write("run.json", "[1, 2]"), ["run.json", "not an object"]),
    "run.json is a string": (_write("run.json", '"hello"'), ["run.json", "not an object"]),
    "run.json not JSON": (_write("run.json", "{oops"), ["run.json", "not valid JSON"]),
    "run.json not UTF-8": (_write("run.json", b'{"name": "caf\xe9"}'), ["run.json", "not UTF-8"]),
    "run.json cells not a list": (_write("run.json", '{"cells": 5}'), ["run.json", "cells"]),
    "run.json cells with a path": (_write("run.json", '{"cells": ["../../etc"]}'), ["run.json", "cells"]),
    "run.json experiment wrong type": (_write("run.json", '{"cells": [], "experiment": 5}'),
                                       ["run.json", "experiment"]),
    "result.json is a list": (_write("cells/CELL/result.json", "[]"), ["result.json", "not an object"]),
    "cell.json truncated": (_write("cells/CELL/cell.json", '{"id": "x'), ["cell.json", "not valid JSON"]),
    "metrics.json not UTF-8": (_write("cells/CELL/metrics.json", b"\xff\xfe{}"), ["metrics.json", "not UTF-8"]),
    "env.json missing": (lambda s: (only_cell(s) / "env.json").unlink() or "env.json", ["env.json", "missing"]),
    "epochs.csv non-number": (_edit_csv("cells/CELL/epochs.csv", lambda ls: _replace_field(ls, 1, 2, "abc")),
                              ["epochs.csv", "number"]),
    "epochs.csv not UTF-8": (_write("cells/CELL/epochs.csv", b"epoch,stage\n\xff,x\n"), ["epochs.csv", "CSV"]),
    "predictions ragged": (_edit_csv("cells/CELL/predictions_test.csv", lambda ls: ls[:3] + ["7,1"] + ls[4:]),
                           ["predictions_test.csv", "malformed predictions"]),
    "predictions non-number": (_edit_csv("cells/CELL/predictions_test.csv",
                                         lambda ls: _replace_field(ls, 2, 3, "zero")),
                               ["predictions_test.csv", "malformed predictions"]),
    "predictions bad label": (_edit_csv("cells/CELL/predictions_test.csv",
                                        lambda ls: _replace_field(ls, 5, 2, "x")),
                              ["predictions_test.csv", "malformed predictions"]),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_tampered_store_exits_2_and_is_left_as_it_was(store_copy: Path, case: str) -> None:
    tamper, needles = TAMPERED[case]
    tamper(store_copy)
    before = snapshot(store_copy)
    result = invoke("render", store_copy, "--lang", "en", "--jobs", "1")
    assert_one_error(result, *needles)
    assert snapshot(store_copy) == before


@pytest.mark.parametrize("content", [b"[1, 2]", b"{trunc", b"\xff\xfe"])
def test_damaged_analysis_files_are_recomputed(store_copy: Path, content: bytes) -> None:
    assert invoke("render", store_copy, "--lang", "en", "--jobs", "1").exit_code == 0
    for p in (store_copy / "analysis").glob("*.json"):
        p.write_bytes(content)
    result = invoke("render", store_copy, "--lang", "en", "--jobs", "1")
    assert result.exit_code == 0, result.output
    for p in (store_copy / "analysis").glob("*.json"):
        assert json.loads(p.read_text()), p


def test_a_run_blocked_on_the_store_lock_gives_up_with_a_message(store_copy: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Cells have their own locks (many processes fill one store); the store lock only guards run.json, and a
    holder that never lets go is reported instead of waited on forever."""
    import fcntl

    from reportgen.store import locks

    monkeypatch.setattr(locks, "STORE_LOCK_TIMEOUT_S", 1.0)
    before = snapshot(store_copy)
    with open(store_copy / ".lock", "a") as held:  # a run in progress holds this lock
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = invoke("run", store_toml(tmp_path, store_copy.parent), "--no-progress")
    assert_one_error(result, "another `reportgen run`", ".lock")
    assert {k: v for k, v in snapshot(store_copy).items() if k != ".lock"} == \
        {k: v for k, v in before.items() if k != ".lock"}


# --------------------------------------------------------------------------- symbolic links
@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the store with files that must survive."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "precious.txt").write_text("keep me")
    (d / "figure.png").write_bytes(b"\x89PNG keep me")
    return d


def test_symlinked_lock_is_refused_and_its_target_untouched(store_copy: Path, tmp_path: Path, outside: Path) -> None:
    (store_copy / ".lock").unlink(missing_ok=True)
    (store_copy / ".lock").symlink_to(outside / "precious.txt")
    result = invoke("run", store_toml(tmp_path, store_copy.parent), "--no-progress")
    assert_one_error(result, ".lock", "symbolic link")
    assert (outside / "precious.txt").read_text() == "keep me"


def test_open_lock_never_follows_a_link(tmp_path: Path, outside: Path) -> None:
    from reportgen.errors import StoreError
    from reportgen.store.safepath import open_lock

    (tmp_path / ".lock").symlink_to(outside / "precious.txt")
    with pytest.raises(StoreError, match="symbolic link"):
        open_lock(tmp_path / ".lock")
    assert (outside / "precious.txt").read_text() == "keep me"


def test_symlinked_figures_folder_is_refused_and_target_pngs_kept(store_copy: Path, outside: Path) -> None:
    (store_copy / "figures").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    result = invoke("render", store_copy, "--lang", "both", "--jobs", "1")
    assert_one_error(result, "figures", "symbolic link")
    assert snapshot(outside) == before


def test_symlinked_cell_folder_is_refused(store_copy: Path, tmp_path: Path, outside: Path) -> None:
    # An unfinished cell folder that links out: the runner would wipe it and write into the target.
    toml = store_toml(tmp_path, store_copy.parent, experiment="seeds = [0, 1]")
    (store_copy / "cells" / "pnm-smallcnn-scratch-s1-x").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    result = invoke("run", toml, "--no-progress")
    assert_one_error(result, "pnm-smallcnn-scratch-s1-x", "symbolic link")
    assert snapshot(outside) == before


@pytest.mark.parametrize("name", ["report.html", "report.pdf", "analysis", "run.json"])
def test_symlinked_store_file_is_refused_by_render(store_copy: Path, outside: Path, name: str) -> None:
    target = outside if name == "analysis" else outside / "precious.txt"
    link = store_copy / name
    if link.is_dir():
        import shutil

        shutil.rmtree(link)
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    before = snapshot(outside)
    result = invoke("render", store_copy, "--lang", "en", "--jobs", "1", "--pdf")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert snapshot(outside) == before


@pytest.mark.parametrize("name", ["mine.html", "outdir"])
def test_out_that_is_a_symlink_is_refused(store_copy: Path, tmp_path: Path, outside: Path, name: str) -> None:
    out = tmp_path / name
    out.symlink_to(outside / "precious.txt" if name.endswith(".html") else outside)
    before = snapshot(outside)
    result = invoke("render", store_copy, "--lang", "en", "--jobs", "1", "--out", out)
    assert_one_error(result, name, "symbolic link")
    assert snapshot(outside) == before


def test_out_in_a_folder_blocked_by_a_file(store_copy: Path, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = invoke("render", store_copy, "--lang", "en", "--jobs", "1", "--out", tmp_path / "blocker" / "r.html")
    assert_one_error(result, "blocker", "is a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_out_in_a_read_only_folder(store_copy: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    result = invoke("render", store_copy, "--lang", "en", "--jobs", "1", "--out", ro / "r.html")
    assert_one_error(result, "ro", "not writable")


def test_output_dir_blocked_by_a_file(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the runs folder should be")
    result = invoke("run", store_toml(tmp_path, tmp_path / "blocked"), "--no-progress")
    assert_one_error(result, "experiment.output_dir", "is a file")
    assert (tmp_path / "blocked").read_text() == "a file where the runs folder should be"


# --------------------------------------------------------------------------- render input problems
def test_non_utf8_template_is_a_message(store_copy: Path, tmp_path: Path) -> None:
    tdir = tmp_path / "tpl"
    tdir.mkdir()
    (tdir / "report.html").write_bytes(b"<html>caf\xe9 {{ ctx.title }}</html>")
    result = invoke("render", store_copy, "--lang", "en", "--jobs", "1", "--template", tdir)
    assert_one_error(result, "report.html", "not UTF-8")


def test_corrupted_figure_cache_is_redrawn(store_copy: Path) -> None:
    from reportgen.report.figures import valid_png

    assert invoke("render", store_copy, "--lang", "en", "--jobs", "1").exit_code == 0
    pngs = sorted((store_copy / "figures").glob("*.png"))
    assert pngs and all(valid_png(p.read_bytes()) for p in pngs)
    good = pngs[0].read_bytes()
    pngs[0].write_bytes(good[: len(good) // 2])  # truncated
    pngs[-1].write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)  # right signature, garbage inside
    result = invoke("render", store_copy, "--lang", "en", "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert pngs[0].read_bytes() == good
    assert valid_png(pngs[-1].read_bytes())


def test_dollar_signs_in_class_names_draw(tmp_path: Path) -> None:
    from reportgen.report.figures import draw, valid_png
    from reportgen.report.fonts import find_cjk_font

    classes = ["$normal", "pneu$monia$", r"$\frac{a}{$"]
    job = ("confusion", {"panels": [{"cm": [[3, 1, 0], [0, 2, 1], [1, 0, 4]],
                                     "cmn": [[0.75, 0.25, 0], [0, 0.67, 0.33], [0.2, 0, 0.8]], "title": "$5 model"}],
                         "classes": classes, "labels": {"true": "true $", "predicted": "predicted $"}})
    try:
        png = draw(job, str(find_cjk_font().path))
    except KeyError as exc:  # the figure takes other label keys: fill them and draw again
        pytest.fail(f"figure job needs key {exc}")
    assert valid_png(png)
