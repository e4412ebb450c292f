"""The typed experiment: one frozen object per TOML table, from the parser to the loop and into the store.

Each field is declared once, with its type, its default and its value check (:func:`key`); the key
tables the parser checks a TOML table against are read off these classes (:func:`keys_of`), so a key
cannot have a default in one place and a check in another. ``to_dict`` gives the JSON the store keeps
(``run.json`` ``experiment``, ``cell.json`` ``train``) — the same JSON as before the objects were typed,
so cell ids (a hash of it) and stores written earlier are unchanged.

Why frozen dataclasses and not pydantic models: the parser's messages (file, key path, did-you-mean, a
fix, every error of a file in one message) come from our own checks, which would otherwise have to be
translated back out of pydantic's errors; and ``validate`` must answer before anything heavy is imported.
The store's pydantic records validate these same classes (pydantic reads stdlib dataclasses), so there is
still one definition of every key.

Subscript access (``exp.train["lr"]``) and ``.get`` still work for scripts, tests and the report's readers
of the stored experiment written against the old dicts; the config, data and train code use attributes.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..registry import strategies as strategy_registry
from . import keys as K
from .augment import Augment, parse_augment
from .keys import REQUIRED, Validator
from .report import lang_text


def setting(default: Any, check: Validator, *, toml_default: Any = REQUIRED) -> Any:
    """A field with its default and check. ``toml_default``: the raw default when the typed one differs."""
    meta = {"check": check, **({"toml_default": toml_default} if toml_default is not REQUIRED else {})}
    if default is REQUIRED:
        return field(metadata=meta)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    if isinstance(default, type):  # a nested typed table: its own defaults
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


def keys_of(cls: type) -> dict[str, tuple[Any, Validator]]:
    """The TOML keys of a typed table, in declaration order: ``{key: (default or REQUIRED, check)}``."""
    out = {}
    for f in dataclasses.fields(cls):
        if "check" not in f.metadata:
            continue  # not a TOML key (e.g. DatasetSpec.key, where it was declared)
        if "toml_default" in f.metadata:
            default = f.metadata["toml_default"]
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = REQUIRED
        out[f.name] = (default, f.metadata["check"])
    return out


def to_json(v: Any) -> Any:
    """A typed value → its JSON form (paths as strings, tuples as lists, typed tables as dicts)."""
    if isinstance(v, Keyed):
        return v.to_dict()
    if isinstance(v, Augment):
        return v.to_json()
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    return v


class Keyed:
    """Shared behaviour of the typed tables: JSON form, and read-only subscripts for older callers."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def __getitem__(self, k: str) -> Any:
        if k in self.__dataclass_fields__:  # type: ignore[attr-defined]
            return getattr(self, k)
        raise KeyError(k)

    def get(self, k: str, default: Any = None) -> Any:
        """Dict-style reading, kept for the report's readers of the stored experiment until they use attributes."""
        return getattr(self, k) if k in self.__dataclass_fields__ else default  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- [experiment]
@dataclass(frozen=True)
class ExperimentTable(Keyed):
    name: str | None = setting(None, K.optional(K.name))
    output_dir: str = setting("runs", K.string)
    seeds: list[int] = setting([0], K.seed_list)
    strategies: list[str] = setting(list(strategy_registry.DEFAULTS), K.distinct_str_list)


# --------------------------------------------------------------------------- [train]
@dataclass(frozen=True)
class TrainConfig(Keyed):
    """``[train]``: the settings of every cell, before a strategy's or a backbone's overrides."""

    optimizer: str = setting("adamw", K.choice(K.OPTIMIZERS))
    lr: float = setting(1e-3, K.positive_float)
    weight_decay: float = setting(1e-4, K.nonneg_float)
    momentum: float = setting(0.9, K.nonneg_float)
    batch_size: int = setting(32, K.bounded_int("batch_size"))
    epochs: int = setting(10, K.bounded_int("epochs"))
    scheduler: str = setting("cosine", K.choice(K.SCHEDULERS))
    step_size: int = setting(5, K.positive_int)
    gamma: float = setting(0.1, K.positive_float)
    selection_metric: str = setting("val_macro_f1", K.choice(K.SELECTION_METRICS))
    patience: int = setting(0, K.nonneg_int)  # 0 = no early stopping; the best epoch is still kept
    loss: str = setting("ce", K.choice(K.LOSSES))
    label_smoothing: float = setting(0.0, K.smoothing)
    class_weighted_loss: bool = setting(False, K.boolean)
    weighted_sampler: bool = setting(False, K.boolean)
    augment: Augment = setting(parse_augment("none"), parse_augment)  # a preset or an op list (config/augment.py)
    amp: str = setting("auto", K.choice(K.AMP_MODES))
    channels_last: bool = setting(True, K.boolean)
    compile: bool = setting(False, K.boolean)
    deterministic: bool = setting(False, K.boolean)
    warmup_frozen_epochs: int = setting(2, K.nonneg_int)
    frozen_feature_cache: bool = setting(True, K.boolean)
    eval_batch_size: int | None = setting(None, K.optional(K.bounded_int("batch_size")))

    @property
    def eval_batch(self) -> int:
        """The batch size of every evaluation of a cell (per-epoch validation and the final scoring alike):
        ``eval_batch_size`` when set, else the training batch size but at least 64 (evaluation keeps no
        activations for a backward pass, so it affords more)."""
        return self.eval_batch_size or max(self.batch_size, 64)

    @classmethod
    def from_mapping(cls, values: Any) -> TrainConfig:
        """A TrainConfig as is, or one built from a mapping of ``[train]`` keys (tests, bench scripts).

        Values are taken as given (the TOML parser is where they are checked: a test may hand the loop an
        infinite learning rate on purpose); missing keys get their defaults and ``augment`` is parsed.
        """
        if isinstance(values, cls):
            return values
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise TypeError(f"not [train] keys: {', '.join(unknown)}")
        given = dict(values)
        if "augment" in given:
            given["augment"] = parse_augment(given["augment"])
        return cls(**given)


# --------------------------------------------------------------------------- [report]
@dataclass(frozen=True)
class ReportConfig(Keyed):
    """``[report]``: what the report says about the work (never what trains)."""

    title: str | dict[str, str] = setting("Transfer learning on medical images", lang_text)  # or {"zh-TW" = …, en = …}
    course: str = setting("", K.string)
    author: str = setting("", K.string)
    student_id: str = setting("", K.string)
    date: str | None = setting(None, K.optional(K.date))  # filled with today's date by the parser
    language: str = setting("both", K.choice(K.LANGUAGES))
    notes: dict[str, Any] = setting({}, K.type_check(dict, "a table of section = \"Markdown text\""))
    notes_file: str | None = setting(None, K.optional(K.string))
    tasks: list[dict[str, Any]] = setting([], K.type_check(list, "[[report.tasks]] blocks"))  # report.parse_tasks
    # Backbones considered in model selection (torchvision names; checked against torchvision in preflight).
    candidates: list[str] = setting([], K.str_list)
    # The author's answers to reporting-checklist items (CLAIM 2024, TRIPOD+AI): report.parse_checklist
    checklist: dict[str, Any] = setting({}, K.type_check(dict, 'a table of item = "answer", e.g. claim_5 = "retrospective"'))
    # "brief": the report leaves out per-epoch logs, per-layer tables, the run list and the TOML (= render --brief).
    detail: str = setting("full", K.choice(("full", "brief")))


# --------------------------------------------------------------------------- [launcher]
@dataclass(frozen=True)
class SlurmConfig(Keyed):
    """``[launcher.slurm]``: one job array, one cell per array task (submitit)."""

    partition: str | None = setting(None, K.optional(K.type_check(str, "a partition name")))
    time_min: int = setting(240, K.positive_int)  # per task; a task that times out requeues and resumes
    gpus_per_task: int = setting(0, K.nonneg_int)
    cpus_per_task: int | None = setting(None, K.optional(K.positive_int))
    mem_gb: float | None = setting(None, K.optional(K.positive_float))
    array_parallelism: int | None = setting(None, K.optional(K.positive_int))  # at most this many tasks at once
    extra: dict[str, Any] = setting({}, K.type_check(dict, "a table of extra sbatch options"))  # {account = "lab"}


@dataclass(frozen=True)
class LauncherConfig(Keyed):
    """``[launcher]``: how `reportgen run` spreads cells over processes (the CLI's --launcher/--jobs win)."""

    kind: str = setting("inline", K.choice(K.LAUNCHERS))
    jobs: int = setting(1, K.positive_int)  # local: CPU slots when there is no GPU (one slot per GPU otherwise)
    slurm: SlurmConfig = setting(SlurmConfig, K.type_check(dict, "a table [launcher.slurm]"), toml_default={})


# --------------------------------------------------------------------------- [[datasets]], [[backbones]]
def _benchmark(v: Any) -> str:
    """A published benchmark this dataset *is* (baselines.toml): "pneumoniamnist", "pneumoniamnist_64", …"""
    import difflib

    from ..published import benchmark_ids, parse_benchmark

    if isinstance(v, str) and parse_benchmark(v) is not None:
        return v.strip().lower()
    exc = ValueError("a benchmark from reportgen/published/baselines.toml: " + ", ".join(benchmark_ids())
                     + ' (a MedMNIST flag may end in its size: "pneumoniamnist_64")')
    close = difflib.get_close_matches(str(v).lower().split("_")[0], list(benchmark_ids()), n=1, cutoff=0.6) \
        if isinstance(v, str) else []
    exc.fix = (f'did you mean "{close[0]}"?' if close  # type: ignore[attr-defined]
               else "remove the key if the data are not that benchmark's files")
    raise exc


@dataclass(frozen=True)
class DatasetSpec(Keyed):
    """One ``[[datasets]]`` entry, paths resolved against the TOML's folder."""

    name: str = setting(REQUIRED, K.name)
    kind: str = setting(REQUIRED, K.choice(K.DATASET_KINDS))
    path: Path | None = setting(None, K.optional(K.string))  # npz file or image-folder root
    train_csv: Path | None = setting(None, K.optional(K.string))
    val_csv: Path | None = setting(None, K.optional(K.string))
    test_csv: Path | None = setting(None, K.optional(K.string))
    image_root: Path | None = setting(None, K.optional(K.string))
    path_column: str = setting("image", K.string)
    label_column: str = setting("label", K.string)
    image_suffix: str = setting("", K.string)  # appended to CSV ids that lack an extension (e.g. ".jpeg")
    classes: tuple[str, ...] | None = setting(None, K.optional(K.distinct_str_list))
    task: str = setting("auto", K.choice(K.TASKS))
    color: str = setting("auto", K.choice(K.COLOR_MODES))
    val_fraction: float = setting(0.1, K.fraction)
    min_val_size: int = setting(100, K.nonneg_int)
    max_train_samples: int | None = setting(None, K.optional(K.positive_int))
    split_seed: int = setting(0, K.seed)
    description: str = setting("", K.string)
    credit: str = setting("", K.string)
    modality: str = setting("", K.string)  # e.g. "chest X-ray": the report names it only when declared
    label: str | None = setting(None, K.optional(K.string))  # the name used in prose (default: MedMNIST spelling or `name`)
    # Pixel-faithful decoding (data/decode.py): "auto" | "minmax" | "bit_depth" | {window = [centre, width]}.
    intensity: Any = setting("auto", K.intensity)
    # Patient-level splits (data/groups.py): a CSV column, or a regex on the file name (first group = patient).
    group_column: str | None = setting(None, K.optional(K.string))
    group_pattern: str | None = setting(None, K.optional(K.regex))
    # kind = "medmnist" (config/medmnist.py): `name` is the MedMNIST name, files {name}[_{size}].npz in `root`.
    size: int | None = setting(None, K.optional(K.medmnist_size))
    root: Path | None = setting(None, K.optional(K.string))
    # The published benchmark these files are (its official test split): the report then shows the published
    # result for a cell of exactly the same protocol (reportgen/published/baselines.py).
    benchmark: str | None = setting(None, K.optional(_benchmark))
    key: str = ""  # "datasets[0]": where it was declared, for error messages


@dataclass(frozen=True)
class BackboneSpec(Keyed):
    """One ``[[backbones]]`` entry."""

    name: str = setting(REQUIRED, K.string)
    weights: str = setting("DEFAULT", K.string)
    input_size: int = setting(224, K.bounded_int("input_size"))
    reason: str | dict[str, str] = setting("", lang_text)  # one text, or one per language (report.pick)
    label: str | None = setting(None, K.optional(K.string))
    stem: str = setting("default", K.choice(K.STEMS))  # "small": 3×3 stride-1 stem, no max-pool, for 28–64 px inputs
    key: str = ""


# --------------------------------------------------------------------------- [overrides]
@dataclass(frozen=True)
class Overrides:
    """``[overrides.strategy.<name>]`` and ``[overrides.backbone.<name>]``: only the ``[train]`` keys the user set,
    checked like ``[train]``'s. A backbone's override wins over a strategy's."""

    strategy: dict[str, dict[str, Any]] = field(default_factory=dict)
    backbone: dict[str, dict[str, Any]] = field(default_factory=dict)

    def for_cell(self, *, backbone: str, strategy: str) -> dict[str, Any]:
        return {**self.strategy.get(strategy, {}), **self.backbone.get(backbone, {})}

    def source_of(self, name: str, *, backbone: str, strategy: str) -> str:
        """The TOML key path that sets ``name`` for this (backbone, strategy): an override's or ``train.<name>``."""
        if name in self.backbone.get(backbone, {}):
            return f"overrides.backbone.{backbone}.{name}"
        if name in self.strategy.get(strategy, {}):
            return f"overrides.strategy.{strategy}.{name}"
        return f"train.{name}"

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": to_json(self.strategy), "backbone": to_json(self.backbone)}

    def __getitem__(self, k: str) -> dict[str, dict[str, Any]]:
        if k in ("strategy", "backbone"):
            return getattr(self, k)
        raise KeyError(k)


# --------------------------------------------------------------------------- the whole file
@dataclass
class Experiment:
    source: Path
    name: str
    output_dir: Path
    seeds: list[int]
    strategies: list[str]
    report: ReportConfig
    datasets: list[DatasetSpec]
    backbones: list[BackboneSpec]
    train: TrainConfig
    overrides: Overrides
    exclude: list[dict[str, Any]]
    raw_text: str = field(repr=False, default="")
    launcher: LauncherConfig = field(default_factory=LauncherConfig)

    @property
    def run_dir(self) -> Path:
        return self.output_dir / self.name

    def train_config(self, *, backbone: str, strategy: str) -> TrainConfig:
        """Training settings for one cell: defaults, then the strategy's, then the backbone's overrides."""
        return dataclasses.replace(self.train, **self.overrides.for_cell(backbone=backbone, strategy=strategy))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form saved in run.json (paths as strings)."""
        return {
            "name": self.name,
            "source": str(self.source),
            "seeds": self.seeds,
            "strategies": self.strategies,
            "report": self.report.to_dict(),
            "datasets": [d.to_dict() for d in self.datasets],
            "backbones": [b.to_dict() for b in self.backbones],
            "train": self.train.to_dict(),
            "overrides": self.overrides.to_dict(),
            "exclude": self.exclude,
        }
