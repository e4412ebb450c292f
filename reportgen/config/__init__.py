"""The experiment file: TOML → a validated, typed :class:`Experiment`.

Every key is declared once in the ``*_KEYS`` tables below with its type and default, so the
schema is visible in one place (like nanoGPT's config block) and an unknown key is an error
with a did-you-mean. Errors name the file and the dotted key path. This module never imports
torch: ``validate`` checks the things that need torch (backbones, weights, data) in
:mod:`reportgen.train.preflight`.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .named_files import check_named_file
from .names import close_names, is_baseline, known_names
from .names import did_you_mean as _did_you_mean
from .report import lang_text, parse_checklist, parse_tasks
from .tomlcheck import ConfigErrors, parse_toml

STRATEGIES = ("finetune", "frozen", "scratch", "warmup")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "plateau", "cosine", "step")
SELECTION_METRICS = ("val_loss", "val_acc", "val_macro_f1", "val_auc")
LOSSES = ("ce", "bce")
AMP_MODES = ("auto", "off", "bf16", "fp16")
AUGMENTS = ("none", "flips", "medical")  # presets; a list of ops is accepted too (data/pipeline.py)
STEMS = ("default", "small")
DATASET_KINDS = ("npz", "folder", "csv", "medmnist")
MEDMNIST_SIZES = (28, 64, 128, 224)  # the sizes the medmnist package publishes (MedMNIST+)
TASKS = ("auto", "binary", "multiclass", "ordinal")
COLOR_MODES = ("auto", "gray", "rgb")
LANGUAGES = ("zh-TW", "en", "both")
REPORT_SECTIONS = ("abstract", "introduction", "model_selection", "data", "methods", "results",
                   "comparison", "discussion", "limitations")


# --------------------------------------------------------------------------- key tables
# Each entry: key -> (default, validator). A default of REQUIRED means the key must be given.
class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
Validator = Callable[[Any], Any]


def _type(kind: type | tuple[type, ...], what: str) -> Validator:
    def check(v: Any) -> Any:
        # bool is an int in Python; a `true` where a number belongs is a mistake, not a 1.
        if isinstance(v, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise ValueError(what)
        if not isinstance(v, kind):
            raise ValueError(what)  # noqa: TRY004 - caught by _check_table and reported with the key
        return float(v) if kind == (int, float) else v

    return check


def _choice(options: tuple[str, ...]) -> Validator:
    def check(v: Any) -> Any:
        if not isinstance(v, str) or v not in options:
            raise ValueError("one of " + ", ".join(f'"{o}"' for o in options))
        return v

    return check


def _is_number(v: Any) -> bool:
    # bool is an int in Python; NaN and inf parse as TOML floats but no setting means them.
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _positive_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError("a positive integer")
    return v


def _nonneg_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError("an integer ≥ 0")
    return v


def _nonneg_float(v: Any) -> float:
    if not _is_number(v) or v < 0:
        raise ValueError("a number ≥ 0 (not nan or inf)")
    return float(v)


def _positive_float(v: Any) -> float:
    if not _is_number(v) or v <= 0:
        raise ValueError("a number > 0 (not nan or inf)")
    return float(v)


def _fraction(v: Any) -> float:
    if not _is_number(v) or not 0 < v < 1:
        raise ValueError("a number between 0 and 1 (exclusive)")
    return float(v)


def _smoothing(v: Any) -> float:
    if not _is_number(v) or not 0 <= v < 1:
        raise ValueError("a number in [0, 1), e.g. 0.1 (0 = no label smoothing)")
    return float(v)


# Upper bounds that catch typos (epochs = 1000000, input_size = 22400) before hours are spent or
# memory runs out. A real need for more is lifted with an environment variable, named in the message.
LIMITS = {"epochs": ("REPORTGEN_MAX_EPOCHS", 10_000), "input_size": ("REPORTGEN_MAX_INPUT_SIZE", 2048),
          "batch_size": ("REPORTGEN_MAX_BATCH_SIZE", 65_536)}


def limit(name: str) -> int:
    env, default = LIMITS[name]
    raw = os.environ.get(env, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


def _bounded_int(name: str) -> Validator:
    def check(v: Any) -> int:
        env, _ = LIMITS[name]
        top = limit(name)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= top:
            raise ValueError(f"a positive integer up to {top} (to allow more, set the environment variable {env})")
        return v

    return check


def _optional(check: Validator) -> Validator:
    def inner(v: Any) -> Any:
        return None if v is None else check(v)

    return inner


def _str_list(v: Any) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
        raise ValueError("a list of non-empty strings")
    return list(v)


def _distinct_str_list(v: Any) -> list[str]:
    """A non-empty list of distinct names (a class listed twice would give the same images two labels)."""
    out = _str_list(v)
    if not out:
        raise ValueError("a non-empty list of names")
    twice = sorted({s for s in out if out.count(s) > 1})
    if twice:
        raise ValueError(f"a list of distinct names ({', '.join(repr(s) for s in twice)} listed twice)")
    return out


MAX_SEED = 2**32 - 1  # numpy's seed range


def _seed(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_SEED - 1:
        raise ValueError(f"an integer from 0 to {MAX_SEED - 1}")
    return v


def _int_list(v: Any) -> list[int]:
    if not isinstance(v, list) or not v or not all(isinstance(s, int) and not isinstance(s, bool) for s in v):
        raise ValueError("a non-empty list of integers, e.g. [0, 1, 2]")
    if any(not 0 <= s <= MAX_SEED for s in v):
        raise ValueError(f"seeds from 0 to {MAX_SEED}, e.g. [0, 1, 2]")
    if len(set(v)) != len(v):
        raise ValueError("a list of distinct integers")
    return list(v)


def _name(v: Any) -> str:
    if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", v):
        raise ValueError('a name of letters, digits, "_", "-" or "." (it becomes part of folder names)')
    return v


def _date(v: Any) -> str:
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        return v
    raise ValueError('a date such as 2026-11-23 or a string')


def _augment(v: Any) -> Any:
    """A preset name or a list of named ops; the op registry and its checks live in data/pipeline.py."""
    # Imported when called: the data package imports this module (DatasetSpec) at its import time.
    from ..data.pipeline import check_augment

    return check_augment(v)


def _intensity(v: Any) -> Any:
    """How stored intensities become 8-bit model input; the policies live in data/decode.py."""
    from ..data.decode import check_intensity

    return check_intensity(v)


def _regex(v: Any) -> str:
    """A regular expression naming each image's group (patient) in its file name."""
    if not isinstance(v, str) or not v:
        raise ValueError("a regular expression, e.g. 'person(\\d+)_' (its first group is the patient)")
    try:
        re.compile(v)
    except re.error as exc:
        raise ValueError(f"a valid regular expression ({exc})") from None
    return v


def _medmnist_size(v: Any) -> int:
    if isinstance(v, bool) or v not in MEDMNIST_SIZES:
        raise ValueError("one of " + ", ".join(map(str, MEDMNIST_SIZES)))
    return int(v)


_str = _type(str, "a string")
_bool = _type(bool, "true or false")

EXPERIMENT_KEYS: dict[str, tuple[Any, Validator]] = {
    "name": (None, _optional(_name)),
    "output_dir": ("runs", _str),
    "seeds": ([0], _int_list),
    "strategies": (["finetune", "frozen", "scratch"], _distinct_str_list),
}

REPORT_KEYS: dict[str, tuple[Any, Validator]] = {
    "title": ("Transfer learning on medical images", lang_text),  # a string or {"zh-TW" = …, en = …}
    "course": ("", _str),
    "author": ("", _str),
    "student_id": ("", _str),
    "date": (None, _optional(_date)),
    "language": ("both", _choice(LANGUAGES)),
    "notes": ({}, _type(dict, "a table of section = \"Markdown text\"")),
    "notes_file": (None, _optional(_str)),
    "tasks": ([], _type(list, "[[report.tasks]] blocks")),  # the lab's questions: report_config.parse_tasks
    # Backbones considered in model selection (torchvision names; checked against torchvision in preflight).
    "candidates": ([], _str_list),
    # The author's answers to reporting-checklist items (CLAIM 2024, TRIPOD+AI): report_config.parse_checklist
    "checklist": ({}, _type(dict, 'a table of item = "answer", e.g. claim_5 = "retrospective"')),
    # "brief": the report leaves out per-epoch logs, per-layer tables, the run list and the TOML (= render --brief).
    "detail": ("full", _choice(("full", "brief"))),
}

def _benchmark(v: Any) -> str:
    """A published benchmark this dataset *is* (baselines.toml): "pneumoniamnist", "pneumoniamnist_64", …"""
    from ..published.baselines import benchmark_ids, parse_benchmark

    if isinstance(v, str) and parse_benchmark(v) is not None:
        return v.strip().lower()
    exc = ValueError("a benchmark from reportgen/published/baselines.toml: " + ", ".join(benchmark_ids())
                     + ' (a MedMNIST flag may end in its size: "pneumoniamnist_64")')
    close = _did_you_mean(str(v).lower().split("_")[0], benchmark_ids()) if isinstance(v, str) else ""
    exc.fix = close or "remove the key if the data are not that benchmark's files"  # type: ignore[attr-defined]
    raise exc


DATASET_KEYS: dict[str, tuple[Any, Validator]] = {
    "name": (REQUIRED, _name),
    "kind": (REQUIRED, _choice(DATASET_KINDS)),
    "path": (None, _optional(_str)),  # npz file or image-folder root
    "train_csv": (None, _optional(_str)),
    "val_csv": (None, _optional(_str)),
    "test_csv": (None, _optional(_str)),
    "image_root": (None, _optional(_str)),
    "path_column": ("image", _str),
    "label_column": ("label", _str),
    "image_suffix": ("", _str),  # appended to CSV ids that lack an extension (e.g. ".jpeg")
    "classes": (None, _optional(_distinct_str_list)),
    "task": ("auto", _choice(TASKS)),
    "color": ("auto", _choice(COLOR_MODES)),
    "val_fraction": (0.1, _fraction),
    "min_val_size": (100, _nonneg_int),
    "max_train_samples": (None, _optional(_positive_int)),
    "split_seed": (0, _seed),
    "description": ("", _str),
    "credit": ("", _str),
    "modality": ("", _str),  # e.g. "chest X-ray": the report names it only when declared
    "label": (None, _optional(_str)),  # the name used in prose (default: MedMNIST spelling or `name`)
    # Pixel-faithful decoding (data/decode.py): "auto" | "minmax" | "bit_depth" | {window = [centre, width]}.
    "intensity": ("auto", _intensity),
    # Patient-level splits (data/groups.py): a CSV column, or a regex on the file name (first group = patient).
    "group_column": (None, _optional(_str)),
    "group_pattern": (None, _optional(_regex)),
    # kind = "medmnist" (data/medmnist.py): `name` is the MedMNIST name, files {name}[_{size}].npz in `root`.
    "size": (None, _optional(_medmnist_size)),
    "root": (None, _optional(_str)),
    # The published benchmark these files are (its official test split): the report then shows the published
    # result for a cell of exactly the same protocol (reportgen/published/baselines.py).
    "benchmark": (None, _optional(_benchmark)),
}

BACKBONE_KEYS: dict[str, tuple[Any, Validator]] = {
    "name": (REQUIRED, _str),
    "weights": ("DEFAULT", _str),
    "input_size": (224, _bounded_int("input_size")),
    "reason": ("", lang_text),
    "label": (None, _optional(_str)),
    "stem": ("default", _choice(STEMS)),  # "small": 3×3 stride-1 stem, no max-pool, for 28–64 px inputs
}

TRAIN_KEYS: dict[str, tuple[Any, Validator]] = {
    "optimizer": ("adamw", _choice(OPTIMIZERS)),
    "lr": (1e-3, _positive_float),
    "weight_decay": (1e-4, _nonneg_float),
    "momentum": (0.9, _nonneg_float),
    "batch_size": (32, _bounded_int("batch_size")),
    "epochs": (10, _bounded_int("epochs")),
    "scheduler": ("cosine", _choice(SCHEDULERS)),
    "step_size": (5, _positive_int),
    "gamma": (0.1, _positive_float),
    "selection_metric": ("val_macro_f1", _choice(SELECTION_METRICS)),
    "patience": (0, _nonneg_int),  # 0 = no early stopping; the best epoch is still kept
    "loss": ("ce", _choice(LOSSES)),
    "label_smoothing": (0.0, _smoothing),
    "class_weighted_loss": (False, _bool),
    "weighted_sampler": (False, _bool),
    "augment": ("none", _augment),  # a preset name or a list of named ops (data/pipeline.py)
    "amp": ("auto", _choice(AMP_MODES)),
    "channels_last": (True, _bool),
    "compile": (False, _bool),
    "deterministic": (False, _bool),
    "warmup_frozen_epochs": (2, _nonneg_int),
    "frozen_feature_cache": (True, _bool),
    "eval_batch_size": (None, _optional(_bounded_int("batch_size"))),
}

TOP_LEVEL = ("experiment", "report", "datasets", "backbones", "train", "overrides", "exclude", "launcher")

LAUNCHERS = ("inline", "local", "slurm")
# [launcher]: how `reportgen run` spreads cells over processes (the CLI's --launcher/--jobs win).
LAUNCHER_KEYS: dict[str, tuple[Any, Validator]] = {
    "kind": ("inline", _choice(LAUNCHERS)),
    "jobs": (1, _positive_int),  # local: CPU slots when there is no GPU (one slot per GPU otherwise)
    "slurm": ({}, _type(dict, "a table [launcher.slurm]")),
}
# [launcher.slurm]: one job array, one cell per array task (submitit).
SLURM_KEYS: dict[str, tuple[Any, Validator]] = {
    "partition": (None, _optional(_type(str, "a partition name"))),
    "time_min": (240, _positive_int),  # per task; a task that times out requeues and resumes
    "gpus_per_task": (0, _nonneg_int),
    "cpus_per_task": (None, _optional(_positive_int)),
    "mem_gb": (None, _optional(_positive_float)),
    "array_parallelism": (None, _optional(_positive_int)),  # at most this many tasks at once
    "extra": ({}, _type(dict, "a table of extra sbatch options")),  # e.g. {account = "lab", qos = "low"}
}


# --------------------------------------------------------------------------- typed result
@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str
    path: Path | None
    train_csv: Path | None
    val_csv: Path | None
    test_csv: Path | None
    image_root: Path | None
    path_column: str
    label_column: str
    image_suffix: str
    classes: tuple[str, ...] | None
    task: str
    color: str
    val_fraction: float
    min_val_size: int
    max_train_samples: int | None
    split_seed: int
    description: str
    credit: str
    modality: str
    label: str | None
    key: str  # "datasets[0]": where it was declared, for error messages
    intensity: Any = "auto"
    group_column: str | None = None
    group_pattern: str | None = None
    size: int | None = None  # kind = "medmnist" only
    root: Path | None = None  # kind = "medmnist" only
    benchmark: str | None = None  # a published benchmark id (baselines.toml); None: not compared


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    weights: str
    input_size: int
    reason: str | dict[str, str]  # one text, or one per language (report_config.pick)
    label: str | None
    key: str
    stem: str = "default"


@dataclass
class Experiment:
    source: Path
    name: str
    output_dir: Path
    seeds: list[int]
    strategies: list[str]
    report: dict[str, Any]
    datasets: list[DatasetSpec]
    backbones: list[BackboneSpec]
    train: dict[str, Any]
    overrides: dict[str, dict[str, dict[str, Any]]]
    exclude: list[dict[str, Any]]
    raw_text: str = field(repr=False, default="")
    launcher: dict[str, Any] = field(default_factory=lambda: parse_launcher({}, file=Path("-")))

    @property
    def run_dir(self) -> Path:
        return self.output_dir / self.name

    def train_config(self, *, backbone: str, strategy: str) -> dict[str, Any]:
        """Training settings for one cell: defaults, then the strategy's, then the backbone's overrides."""
        cfg = copy.deepcopy(self.train)
        cfg.update(self.overrides.get("strategy", {}).get(strategy, {}))
        cfg.update(self.overrides.get("backbone", {}).get(backbone, {}))
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form saved in run.json (paths as strings)."""

        def spec(d: Any) -> dict[str, Any]:
            out = {k: (str(v) if isinstance(v, Path) else v) for k, v in d.__dict__.items()}
            if out.get("classes") is not None:
                out["classes"] = list(out["classes"])
            return out

        return {
            "name": self.name,
            "source": str(self.source),
            "seeds": self.seeds,
            "strategies": self.strategies,
            "report": self.report,
            "datasets": [spec(d) for d in self.datasets],
            "backbones": [spec(b) for b in self.backbones],
            "train": self.train,
            "overrides": self.overrides,
            "exclude": self.exclude,
        }


# --------------------------------------------------------------------------- parsing
def _check_table(table: Any, keys: dict[str, tuple[Any, Validator]], *, file: Path, where: str) -> dict:
    if not isinstance(table, dict):
        raise ConfigError("expected a table", file=file, key=where, expected=f"[{where}] with keys "
                          + ", ".join(keys))
    out: dict[str, Any] = {}
    for k in table:
        if k not in keys:
            hint = _did_you_mean(k, tuple(keys))
            _report(ConfigError(f'unknown key "{k}"', file=file, key=f"{where}.{k}",
                                expected="one of " + ", ".join(keys),
                                fix=hint or "remove it or check the spelling (see experiments/demo.toml)"))
    for k, (default, check) in keys.items():
        if k not in table:
            if default is REQUIRED:
                _report(ConfigError(f'missing required key "{k}"', file=file, key=f"{where}.{k}",
                                    fix=f'add {k} = ... to {where}'))
                out[k] = None
                continue
            out[k] = copy.deepcopy(default)
            continue
        try:
            out[k] = check(table[k])
        except ValueError as exc:
            # A structured value (the augment op list) names the element inside it: augment[3].degrees.
            sub = getattr(exc, "subkey", "")
            value = exc.value if sub else table[k]  # type: ignore[attr-defined]
            _report(ConfigError(f"bad value {value!r}", file=file, key=f"{where}.{k}{sub}",
                                expected=str(exc), fix=getattr(exc, "fix", None) or f"change {k} in [{where}] to "
                                "such a value (experiments/demo.toml shows every key)"))
            out[k] = None if default is REQUIRED else copy.deepcopy(default)  # keep checking the rest
    return out


# While load_experiment runs, problems that leave the rest of the file checkable are collected here
# (one message lists them all); elsewhere (no collector) the first one is raised as before.
_COLLECTED: ContextVar[list[ConfigError] | None] = ContextVar("reportgen_config_errors", default=None)


def _report(err: ConfigError) -> None:
    sink = _COLLECTED.get()
    if sink is None:
        raise err
    sink.append(err)


def _resolve(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    # normpath keeps messages readable: "data/x" rather than "experiments/../data/x"
    return p if p.is_absolute() else Path(os.path.normpath(base / p))


def load_experiment(path: str | Path) -> Experiment:
    """Parse and validate an experiment file (no torch, no file system checks of the data).

    Raises:
        ConfigError: with file, key, expectation and fix for any problem; when the file has several,
            one :class:`ConfigErrors` that lists them all.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("experiment file not found", file=path,
                          fix="pass the path of a .toml file, e.g. experiments/demo.toml")
    text = read_text_file(path, what="experiment file")
    errors: list[ConfigError] = []
    token = _COLLECTED.set(errors)
    try:
        exp = _load(path, text, errors)
    except ConfigError as exc:  # a problem the rest of the file cannot be checked past
        errors.append(exc)
    except Exception:
        if not errors:
            raise
        # A knock-on failure of a document already known to be broken: report what was found.
    finally:
        _COLLECTED.reset(token)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigErrors(errors, file=path)
    return exp


def _load(path: Path, text: str, errors: list[ConfigError]) -> Experiment:
    doc = parse_toml(text, file=path, errors=errors)
    if doc is None:
        raise errors.pop()  # unparsable even with full-width typos replaced: nothing more to check
    for k in list(doc):
        if k not in TOP_LEVEL:
            hint = _did_you_mean(k, TOP_LEVEL)
            _report(ConfigError(f'unknown section "{k}"', file=path, key=k,
                                expected="one of " + ", ".join(TOP_LEVEL), fix=hint or "remove it"))
    base = path.parent

    exp = _check_table(doc.get("experiment", {}), EXPERIMENT_KEYS, file=path, where="experiment")
    for i, s in enumerate(exp["strategies"]):
        if s not in STRATEGIES:
            _report(ConfigError(f'unknown strategy "{s}"', file=path, key=f"experiment.strategies[{i}]",
                                expected="one of " + ", ".join(STRATEGIES),
                                fix=_did_you_mean(s, STRATEGIES) or "use finetune, frozen, scratch or warmup"))
    if len(set(exp["strategies"])) != len(exp["strategies"]):
        raise ConfigError("a strategy is listed twice", file=path, key="experiment.strategies")

    report = _check_table(doc.get("report", {}), REPORT_KEYS, file=path, where="report")
    for sec, txt in report["notes"].items():
        if sec not in REPORT_SECTIONS:
            _report(ConfigError(f'unknown report section "{sec}"', file=path, key=f"report.notes.{sec}",
                                expected="one of " + ", ".join(REPORT_SECTIONS),
                                fix=_did_you_mean(sec, REPORT_SECTIONS) or "rename the note"))
            continue
        try:
            report["notes"][sec] = lang_text(txt)
        except ValueError as exc:
            raise ConfigError("a note must be Markdown text", file=path, key=f"report.notes.{sec}",
                              expected=str(exc), fix=f'write {sec} = "…" in [report.notes]') from None
    if report["notes_file"]:
        notes_path = _resolve(base, report["notes_file"])
        assert notes_path is not None
        if not notes_path.is_file():
            raise ConfigError("notes file not found", file=path, key="report.notes_file",
                              expected=f"a Markdown file at {os.path.abspath(notes_path)}", fix="create it or remove the key")
        check_named_file(notes_path, toml=path, key="report.notes_file", what="notes file")
        report["notes"] = {**parse_notes_markdown(notes_path), **report["notes"]}
    report["tasks"] = parse_tasks(report["tasks"], file=path, read_text=read_text_file)
    report["checklist"] = parse_checklist(report["checklist"], file=path)
    if report["date"] is None:
        report["date"] = dt.date.today().isoformat()

    datasets = _parse_list(doc, "datasets", DATASET_KEYS, file=path)
    dspecs = []
    for i, d in enumerate(datasets):
        key = f"datasets[{i}]"
        d = dict(d)
        for pk in ("path", "train_csv", "val_csv", "test_csv", "image_root", "root"):
            d[pk] = _resolve(base, d[pk])
        if d["kind"] in ("npz", "folder") and d["path"] is None:
            _report(ConfigError(f'kind = "{d["kind"]}" needs a path', file=path, key=f"{key}.path",
                                expected="the .npz file" if d["kind"] == "npz"
                                else "the folder holding train/ val/ test/"))
        if d["kind"] == "csv":
            for req in ("train_csv", "test_csv"):
                if d[req] is None:
                    _report(ConfigError(f'kind = "csv" needs {req}', file=path, key=f"{key}.{req}",
                                        expected="a CSV file with columns "
                                        f'"{d["path_column"]}" and "{d["label_column"]}"'))
        _check_medimg_keys(d, file=path, key=key)
        dspecs.append(DatasetSpec(**{**d, "classes": tuple(d["classes"]) if d["classes"] else None}, key=key))
    _unique([d.name for d in dspecs], file=path, key="datasets", what="dataset name")

    bspecs = [BackboneSpec(**b, key=f"backbones[{i}]")
              for i, b in enumerate(_parse_list(doc, "backbones", BACKBONE_KEYS, file=path))]
    bspecs = _check_backbone_names(bspecs, doc.get("backbones"), file=path)
    _unique([b.name for b in bspecs], file=path, key="backbones", what="backbone name")

    train = _check_table(doc.get("train", {}), TRAIN_KEYS, file=path, where="train")
    overrides = _parse_overrides(doc.get("overrides", {}), file=path,
                                 strategies=exp["strategies"], backbones=[b.name for b in bspecs])
    exclude = _parse_exclude(doc.get("exclude", []), file=path, exp=exp, dspecs=dspecs, bspecs=bspecs)

    name = exp["name"] or _name_from_stem(path.stem)
    experiment = Experiment(source=path, name=name,
                            output_dir=_resolve(Path.cwd(), exp["output_dir"]) or Path("runs"),
                            seeds=exp["seeds"], strategies=exp["strategies"], report=report, datasets=dspecs,
                            backbones=bspecs, train=train, overrides=overrides, exclude=exclude, raw_text=text,
                            launcher=parse_launcher(doc.get("launcher", {}), file=path))
    _check_warmup_reaches_finetune(experiment, file=path)
    return experiment


def _check_warmup_reaches_finetune(exp: Experiment, *, file: Path) -> None:
    """A warm-up cell whose frozen epochs fill its whole budget never fine-tunes: it would be a frozen cell
    reported as warm-up, so it is refused here, before any compute."""
    if "warmup" not in exp.strategies:
        return
    for b in exp.backbones:
        tc = exp.train_config(backbone=b.name, strategy="warmup")
        frozen, total = tc.get("warmup_frozen_epochs"), tc.get("epochs")
        if isinstance(frozen, int) and isinstance(total, int) and frozen >= total:
            where = next((f"overrides.{kind}.{target}.warmup_frozen_epochs" for kind, target in
                          (("backbone", b.name), ("strategy", "warmup"))
                          if "warmup_frozen_epochs" in exp.overrides.get(kind, {}).get(target, {})),
                         "train.warmup_frozen_epochs")
            _report(ConfigError(f"warm-up of {b.name} never reaches fine-tuning: warmup_frozen_epochs = {frozen} "
                                f"with epochs = {total}", file=file, key=where,
                                expected="fewer frozen warm-up epochs than epochs",
                                fix=f"set warmup_frozen_epochs below {total} (or raise epochs), or use the frozen "
                                    "strategy for a head-only run"))


def _check_medimg_keys(d: dict, *, file: Path, key: str) -> None:
    """The keys of issue 20 (groups, medmnist) against the dataset's kind; fills medmnist defaults."""
    if d["kind"] == "medmnist":
        from ..data.medmnist import check_spec

        check_spec(d, file=file, key=key)
    else:
        for k in ("size", "root"):
            if d[k] is not None:
                hint = " (the data folder of this kind is `path`: rename root to path)" \
                    if k == "root" and d["kind"] in ("folder", "npz") else f" (kind is {d['kind']!r})"
                raise ConfigError(f'{k} applies to kind = "medmnist" only', file=file, key=f"{key}.{k}",
                                  fix=f"remove {k}{hint}")
    if d["group_column"] is not None and d["kind"] != "csv":
        raise ConfigError('group_column applies to kind = "csv" only', file=file, key=f"{key}.group_column",
                          fix="name the groups with group_pattern (a regex on the file name) for image folders")
    if d["group_pattern"] is not None and d["kind"] not in ("csv", "folder"):
        raise ConfigError(f'group_pattern needs image files; kind = "{d["kind"]}" holds arrays', file=file,
                          key=f"{key}.group_pattern", fix="remove group_pattern")
    if d["group_column"] is not None and d["group_pattern"] is not None:
        raise ConfigError("group_column and group_pattern are both set", file=file, key=f"{key}.group_pattern",
                          fix="keep one way of naming each image's group")


def _check_backbone_names(bspecs: list[BackboneSpec], raw: Any, *, file: Path) -> list[BackboneSpec]:
    """Names checked without torch (preflight checks them again against torchvision); a baseline with no
    ``weights`` key gets "none", the only value it accepts, rather than the torchvision default."""
    out = []
    for i, b in enumerate(bspecs):
        if isinstance(b.name, str) and b.name not in known_names():
            close = close_names(b.name)
            _report(ConfigError(f'unknown backbone "{b.name}"', file=file, key=f"{b.key}.name",
                                expected="a torchvision classification model (resnet18, efficientnet_b2, ...), "
                                "efficientnet_lite0/1/2, or a baseline (mlp, smallcnn)",
                                fix=(f"did you mean {' or '.join(repr(c) for c in close)}?" if close
                                     else "run `reportgen inspect --list` to see every name")))
        item = raw[i] if isinstance(raw, list) and i < len(raw) and isinstance(raw[i], dict) else {}
        if is_baseline(b.name) and "weights" not in item:
            b = BackboneSpec(**{**b.__dict__, "weights": "none"})
        out.append(b)
    return out


def parse_launcher(table: Any, *, file: Path) -> dict[str, Any]:
    """``[launcher]`` and ``[launcher.slurm]`` with defaults filled in; unknown keys are errors."""
    out = _check_table(table, LAUNCHER_KEYS, file=file, where="launcher")
    out["slurm"] = _check_table(out["slurm"], SLURM_KEYS, file=file, where="launcher.slurm")
    return out


def read_text_file(path: Path, *, what: str, key: str | None = None, file: Path | None = None) -> str:
    """A UTF-8 text file (a leading BOM, as Windows editors write, is accepted) or a ConfigError."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} ({exc.strerror or exc})", file=file or path, key=key,
                          fix=f"check that {path} exists and is readable") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"the {what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})",
                          file=path, key=key, expected="a UTF-8 encoded text file",
                          fix="re-save the file as UTF-8 (e.g. in your editor: Save with Encoding → UTF-8)"
                          ) from None


def _name_from_stem(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", stem) or "run"


def _parse_list(doc: dict, section: str, keys: dict, *, file: Path) -> list[dict]:
    items = doc.get(section)
    if not items:
        _report(ConfigError(f"no {section} declared", file=file, key=section,
                            fix=f"add at least one [[{section}]] table (see experiments/demo.toml)"))
        return []
    if not isinstance(items, list):
        _report(ConfigError(f"{section} must be an array of tables", file=file, key=section,
                            expected=f"[[{section}]] blocks"))
        return []
    return [_check_table(item, keys, file=file, where=f"{section}[{i}]") for i, item in enumerate(items)]


def _unique(names: list[str], *, file: Path, key: str, what: str) -> None:
    seen = set()
    for i, n in enumerate(names):
        if n in seen:
            _report(ConfigError(f'{what} "{n}" is declared twice', file=file, key=f"{key}[{i}].name",
                                fix="give each one a distinct name"))
        seen.add(n)


def _parse_overrides(table: Any, *, file: Path, strategies: list[str], backbones: list[str]) -> dict:
    if not isinstance(table, dict):
        raise ConfigError("expected a table", file=file, key="overrides")
    out: dict[str, dict[str, dict[str, Any]]] = {"strategy": {}, "backbone": {}}
    for kind, sub in table.items():
        if kind not in out:
            _report(ConfigError(f'unknown override kind "{kind}"', file=file, key=f"overrides.{kind}",
                                expected='"strategy" or "backbone"', fix=_did_you_mean(kind, tuple(out))))
            continue
        if not isinstance(sub, dict):
            raise ConfigError(f"bad value {sub!r}: overrides.{kind} must be a table of tables", file=file,
                              key=f"overrides.{kind}", expected=f"[overrides.{kind}.<name>] with [train] keys",
                              fix=f"write e.g. [overrides.{kind}.{'frozen' if kind == 'strategy' else 'resnet18'}]"
                              " followed by lr = 0.003")
        names = strategies if kind == "strategy" else backbones
        for target, values in sub.items():
            if target not in names:
                _report(ConfigError(f'override for unknown {kind} "{target}"', file=file,
                                    key=f"overrides.{kind}.{target}", expected="one of " + ", ".join(names),
                                    fix=_did_you_mean(target, names) or (
                                        f'add "{target}" to [experiment] strategies' if kind == "strategy"
                                        else f'add a [[backbones]] entry named "{target}"')))
                continue
            allowed = {k: v for k, v in TRAIN_KEYS.items()}
            checked = _check_table(values, allowed, file=file, where=f"overrides.{kind}.{target}")
            out[kind][target] = {k: checked[k] for k in values}  # only the keys the user set
    return out


def _parse_exclude(items: Any, *, file: Path, exp: dict, dspecs: list, bspecs: list) -> list[dict]:
    if not isinstance(items, list):
        raise ConfigError("exclude must be an array of tables", file=file, key="exclude",
                          expected='[[exclude]] blocks with backbone / strategy / dataset / seed')
    valid = {"dataset": [d.name for d in dspecs], "backbone": [b.name for b in bspecs],
             "strategy": exp["strategies"], "seed": exp["seeds"]}
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not item:
            raise ConfigError("each exclude must be a non-empty table", file=file, key=f"exclude[{i}]")
        for k, v in item.items():
            if k not in valid:
                _report(ConfigError(f'unknown key "{k}"', file=file, key=f"exclude[{i}].{k}",
                                    expected="dataset, backbone, strategy or seed",
                                    fix=_did_you_mean(k, tuple(valid))))
            elif v not in valid[k]:
                _report(ConfigError(f'{k} "{v}" is not in the experiment', file=file, key=f"exclude[{i}].{k}",
                                    expected="one of " + ", ".join(map(str, valid[k]))))
        out.append(dict(item))
    return out


def parse_notes_markdown(path: Path) -> dict[str, str]:
    """Split a Markdown notes file into sections by ``## <section>`` headings."""
    notes: dict[str, list[str]] = {}
    current: str | None = None
    for line in read_text_file(path, what="notes file").splitlines():
        m = re.match(r"^##\s+([a-z_]+)\s*$", line.strip())
        if m:
            current = m.group(1)
            if current not in REPORT_SECTIONS:
                raise ConfigError(f'unknown report section "{current}"', file=path, key=f"## {current}",
                                  expected="one of " + ", ".join(REPORT_SECTIONS))
            notes.setdefault(current, [])
        elif current is not None:
            notes[current].append(line)
    return {k: "\n".join(v).strip() for k, v in notes.items() if "\n".join(v).strip()}
