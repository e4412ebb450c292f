"""Leftovers of issue 17: one did-you-mean, one interrupt message, one place for the author's terminal notes,
and the published-baseline identity of a ``kind = "medmnist"`` dataset read from the keys a config has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.tinyexp import DEMO_NPZ, tiny_experiment

PKG = Path(__file__).resolve().parents[2] / "reportgen"


def _defs(pattern: str) -> list[str]:
    rx = re.compile(pattern, re.M)
    return sorted(str(p.relative_to(PKG.parent)) for p in PKG.rglob("*.py") if rx.search(p.read_text("utf-8")))


# --------------------------------------------------------------------------- did you mean


def test_did_you_mean_is_defined_once_in_the_torch_free_names_module() -> None:
    assert _defs(r"^\s*def _?did_you_mean\(") == ["reportgen/config/names.py"]


@pytest.mark.parametrize(("word", "options", "expected"), [
    ("learning_rate", ("lr", "epochs"), 'did you mean "lr"?'),  # a synonym, not the nearest spelling
    ("epoch", ("lr", "epochs"), 'did you mean "epochs"?'),
    ("rezise", ["resize", "hflip"], 'did you mean "resize"?'),
    ("banana", ("lr", "epochs"), ""),
    ("image_size", ("size", "p"), ""),  # a synonym whose target is not an option suggests nothing
])
def test_did_you_mean(word: str, options, expected: str) -> None:
    from reportgen.config.names import did_you_mean

    assert did_you_mean(word, options) == expected


def test_config_report_and_augment_messages_all_use_it(tmp_path: Path) -> None:
    from reportgen.config import load_experiment
    from reportgen.errors import ConfigError

    cases = [({"train": {"learning_rate": 0.1}}, 'did you mean "lr"?'),
             ({"report": {"language": "en", "notes": {"discusion": "x"}}}, 'did you mean "discussion"?'),
             ({"train": {"augment": [{"op": "rezise", "size": 32}]}}, 'did you mean "resize"?')]
    for i, (over, hint) in enumerate(cases):
        toml = tiny_experiment(tmp_path, file=f"c{i}.toml", **over)
        with pytest.raises(ConfigError) as err:
            load_experiment(toml)
        assert hint in str(err.value)


# --------------------------------------------------------------------------- one interrupt message


def test_one_interrupt_message_whatever_path_prints_it(tmp_path: Path) -> None:
    from reportgen.launch import signals
    from reportgen.train.progress import interrupted_message

    assert _defs(r"^\s*def interrupted_message\(") == ["reportgen/train/progress.py"]
    run = tmp_path / "runs" / "x"
    for cid, done in (("a", True), ("b", False), ("c", True)):
        (run / "cells" / cid).mkdir(parents=True)
        if done:
            (run / "cells" / cid / "result.json").write_text("{}", encoding="utf-8")
    old = list(signals._RUN_DIR)
    try:
        signals._RUN_DIR[:] = []
        assert signals.interrupted_note() is None  # no run started in this process: Ctrl-C as usual
        signals._RUN_DIR[:] = [run]
        note = signals.interrupted_note()
    finally:
        signals._RUN_DIR[:] = old
    assert note == interrupted_message(current=None, run_dir=run, finished=2)
    assert note == ("interrupted before any cell started training; 2 finished cells are kept; "
                    "run the same command to start again")


# --------------------------------------------------------------------------- the author's terminal notes


def test_the_authors_terminal_notes_are_worded_in_one_place() -> None:
    from reportgen.report.drafts import author_warnings

    assert _defs(r"checklist items still open") == ["reportgen/report/drafts.py"]
    exp = {"report": {"author": "A", "student_id": "1"}, "backbones": [{"name": "resnet18", "reason": "small"}]}
    assert author_warnings(exp, [], []) == []
    notes = author_warnings(exp, [], ["c1"], checklist_open=["claim_5", "claim_7"])
    assert notes[-1] == ('reporting-checklist items still open (2): claim_5, claim_7 (answer them in '
                         '[report.checklist], e.g. claim_5 = "retrospective")')
    assert notes[0].startswith("1 planned run is unfinished")


@pytest.mark.parametrize(("author", "student_id", "warned"), [
    ("Your Name", "000000000", ["author", "student_id"]),   # the lab TOMLs shipped these until 2026-12
    ("姓名", "B0912345", ["author"]),
    ("Lin Mei-Hua", "xxxxxxxx", ["student_id"]),
    ("Lin Mei-Hua", "B0912345", []),
    ("Nam", "007", []),                                        # short real values are not placeholders
])
def test_template_placeholders_on_the_cover_are_a_terminal_warning(author: str, student_id: str,
                                                                    warned: list[str]) -> None:
    from reportgen.report.drafts import author_warnings

    exp = {"report": {"author": author, "student_id": student_id}, "backbones": []}
    notes = author_warnings(exp, [], [])
    assert [n.split()[1] for n in notes] == warned
    assert all("looks like a template placeholder" in n for n in notes)


def test_the_shipped_lab_tomls_leave_the_cover_to_the_author() -> None:
    import tomllib

    for lab in ("hw4", "cxr4", "retinopathy"):
        report = tomllib.loads((PKG.parent / "experiments" / f"{lab}.toml").read_text(encoding="utf-8"))["report"]
        assert report["author"] == "" and report["student_id"] == "", lab


# --------------------------------------------------------------------------- published baselines


@pytest.mark.parametrize(("name", "size", "expected"), [
    ("PneumoniaMNIST", 64, ("pneumoniamnist", 64)),
    ("pneumoniamnist", 28, ("pneumoniamnist", 28)),
    ("bloodmnist", 28, None),  # a MedMNIST set with no published row here
])
def test_a_medmnist_dataset_is_identified_by_the_name_and_size_its_config_records(tmp_path: Path, name, size,
                                                                                   expected) -> None:
    """The spec is what run.json records (``Experiment.to_dict``): ``name`` and ``size``, no ``flag`` key."""
    from reportgen.config import load_experiment
    from reportgen.published.baselines import dataset_identity

    toml = tiny_experiment(tmp_path, datasets=[{"name": name, "kind": "medmnist", "root": str(DEMO_NPZ.parent),
                                                "size": size}])
    spec = load_experiment(toml).to_dict()["datasets"][0]
    assert "flag" not in spec and "medmnist" not in spec
    assert dataset_identity(spec) == expected


def test_keys_a_config_never_has_are_not_read() -> None:
    from reportgen.published.baselines import dataset_identity

    assert dataset_identity({"kind": "medmnist", "name": "bloodmnist", "flag": "pneumoniamnist", "size": 28}) is None
    assert dataset_identity({"kind": "medmnist", "name": "bloodmnist", "medmnist": "pneumoniamnist"}) is None
