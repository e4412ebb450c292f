"""The one tiny PneumoniaMNIST experiment of the tests and the benchmark, written from keyword overrides.

A test states only what differs from the tiny default (the repository's ``data/pneumoniamnist.npz``, 160 train
images, EfficientNet-Lite0 with its offline weights at 32 px, two epochs of AdamW)::

    tiny_experiment(tmp_path, strategies=["scratch"], seeds=[0, 1],
                    backbone={"name": "smallcnn", "weights": "none", "input_size": 28}, train={"epochs": 1})

Table overrides are merged into the default table; a value of ``None`` removes that key (``train={"lr": None}``
leaves ``lr`` to reportgen's default). Lists and seeds may also be given as TOML text (``'["frozen"]'``), the form
older helpers took.

Why here and not in the package: it is scaffolding for tests and ``bench/``, never needed by a user, and the
benchmark runs from the checkout (``bench/`` is not installed either), so it imports this as ``tests.tinyexp``.
It imports only the standard library, so ``import tinyexp`` (pytest's rootdir path) and ``import tests.tinyexp``
both work.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomllib

ROOT = Path(__file__).resolve().parents[1]
DEMO_NPZ = ROOT / "data" / "pneumoniamnist.npz"

DATASET: dict[str, Any] = {"name": "pnm", "kind": "npz", "path": str(DEMO_NPZ), "classes": ["normal", "pneumonia"],
                           "max_train_samples": 160}
BACKBONE: dict[str, Any] = {"name": "efficientnet_lite0", "weights": "offline", "input_size": 32}
TRAIN: dict[str, Any] = {"optimizer": "adamw", "lr": 1e-3, "batch_size": 32, "epochs": 2, "scheduler": "none",
                         "selection_metric": "val_auc"}
REPORT: dict[str, Any] = {"title": "tiny", "language": "en"}
STRATEGIES = ("finetune", "frozen", "scratch")


def merged(base: Mapping[str, Any] | None, over: Mapping[str, Any] | None) -> dict[str, Any]:
    """``base`` with ``over`` applied: a ``None`` value removes the key."""
    out = dict(base or {})
    for key, value in (over or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _toml_list(value: str | Sequence[Any]) -> list[Any]:
    """A list, or the TOML text of one (``'["finetune", "frozen"]'``, ``"[0, 1]"``)."""
    return tomllib.loads(f"v = {value}")["v"] if isinstance(value, str) else list(value)


def tiny_doc(folder: Path, *, name: str = "tiny", strategies: str | Sequence[str] | None = STRATEGIES,
             seeds: str | Sequence[int] | None = None, output_dir: Path | str | None = None,
             experiment: Mapping[str, Any] | None = None, report: Mapping[str, Any] | None = REPORT,
             dataset: Mapping[str, Any] | None = None, datasets: Sequence[Mapping[str, Any]] | None = None,
             backbone: Mapping[str, Any] | None = None, backbones: Sequence[Mapping[str, Any]] | None = None,
             train: Mapping[str, Any] | None = None, train_base: Mapping[str, Any] = TRAIN,
             overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The experiment as a dict (see the module docstring).

    ``dataset`` / ``backbone`` / ``train`` are merged into the defaults; ``datasets`` / ``backbones`` replace the
    lists whole (each entry merged into nothing); ``train_base={}`` starts ``[train]`` empty; ``report=None``
    leaves ``[report]`` out; ``strategies=None`` / ``seeds=None`` leave the key out.
    """
    exp: dict[str, Any] = {"name": name, "output_dir": str(output_dir if output_dir is not None else folder / "runs")}
    if strategies is not None:
        exp["strategies"] = _toml_list(strategies)
    if seeds is not None:
        exp["seeds"] = _toml_list(seeds)
    doc: dict[str, Any] = {"experiment": merged(exp, experiment)}
    if report is not None:
        doc["report"] = dict(report)
    doc["datasets"] = [dict(d) for d in datasets] if datasets is not None else [merged(DATASET, dataset)]
    doc["backbones"] = [dict(b) for b in backbones] if backbones is not None else [merged(BACKBONE, backbone)]
    if merged(train_base, train):  # train_base={} and no train: no [train] table at all
        doc["train"] = merged(train_base, train)
    if overrides:
        doc["overrides"] = dict(overrides)
    return doc


def tiny_experiment(folder: Path, *, file: str = "tiny.toml", extra: str = "", **over: Any) -> Path:
    """Write the tiny experiment to ``folder/file`` and return its path.

    ``extra`` is TOML text appended as it is: plain keys land in ``[train]`` (the last table) unless
    ``overrides`` is given; a ``[[backbones]]`` block adds a backbone.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    path.write_text(dumps(tiny_doc(folder, **over)) + extra, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- a small TOML writer
# Not tomli_w: it writes every array over several lines, and the report shows the experiment's TOML source,
# so the tiny TOML should read like the hand-written ones (one line per key, arrays inline).

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)  # TOML reads Python's float repr, nan and inf included
    if isinstance(v, str | Path):
        return json.dumps(str(v), ensure_ascii=False)  # JSON's escapes are valid in a TOML basic string
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, Sequence):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML: {v!r}")


def _table(header: str, table: Mapping[str, Any], lines: list[str], *, array: bool = False) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    if scalars or array or not table:
        lines.append(f"[[{header}]]" if array else f"[{header}]")
        lines += [f"{_key(k)} = {_value(v)}" for k, v in scalars.items()]
        lines.append("")
    for k, v in table.items():
        if isinstance(v, Mapping):
            _table(f"{header}.{_key(k)}", v, lines)


def dumps(doc: Mapping[str, Any]) -> str:
    """TOML text of ``doc``: tables and arrays of tables at the top, one key a line, arrays inline."""
    lines: list[str] = []
    for key, value in doc.items():
        if isinstance(value, Mapping):
            _table(_key(key), value, lines)
        elif isinstance(value, list) and value and all(isinstance(x, Mapping) for x in value):
            for item in value:
                _table(_key(key), item, lines, array=True)
        else:
            raise TypeError(f"top-level key {key!r} must be a table or an array of tables")
    return "\n".join(lines)
