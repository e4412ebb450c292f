"""The experiment file, typed: TOML → :class:`Experiment` (no torch, no data/ imports).

- :mod:`.keys`: allowed values and value checks; :mod:`.augment`: ``[train] augment`` → typed ops;
  :mod:`.medmnist`: the MedMNIST facts the parser checks against.
- :mod:`.types`: the typed tables (``TrainConfig``, ``ReportConfig``, ``LauncherConfig``, ``DatasetSpec``,
  ``BackboneSpec``, ``Overrides``, ``Experiment``), each key declared once with its default and check.
- :mod:`.checking`: one table against its keys, with messages naming file, key path and a fix.
- :mod:`.parse`: :func:`load_experiment`, the whole file with every error in one message.
- :mod:`.report`, :mod:`.tomlcheck`, :mod:`.names`, :mod:`.named_files`, :mod:`.matrix`: report text,
  full-width punctuation, backbone names, files beside the TOML, the cell matrix.
"""

from __future__ import annotations

from ..errors import ConfigError
from .augment import Augment, AugmentOp, PipelineError, parse_augment
from .checking import SYNONYMS, did_you_mean
from .keys import (
    AMP_MODES,
    AUGMENTS,
    COLOR_MODES,
    DATASET_KINDS,
    LANGUAGES,
    LAUNCHERS,
    LIMITS,
    LOSSES,
    MAX_SEED,
    MEDMNIST_SIZES,
    OPTIMIZERS,
    REPORT_SECTIONS,
    REQUIRED,
    SCHEDULERS,
    SELECTION_METRICS,
    STEMS,
    STRATEGIES,
    TASKS,
    TOP_LEVEL,
    Validator,
    limit,
)
from .parse import (
    BACKBONE_KEYS,
    DATASET_KEYS,
    EXPERIMENT_KEYS,
    LAUNCHER_KEYS,
    REPORT_KEYS,
    SLURM_KEYS,
    TRAIN_KEYS,
    load_experiment,
    parse_launcher,
    parse_notes_markdown,
    read_text_file,
)
from .tomlcheck import ConfigErrors
from .types import (
    BackboneSpec,
    DatasetSpec,
    Experiment,
    LauncherConfig,
    Overrides,
    ReportConfig,
    SlurmConfig,
    TrainConfig,
)

__all__ = [
    "AMP_MODES", "AUGMENTS", "BACKBONE_KEYS", "COLOR_MODES", "DATASET_KEYS", "DATASET_KINDS", "EXPERIMENT_KEYS",
    "LANGUAGES", "LAUNCHERS", "LAUNCHER_KEYS", "LIMITS", "LOSSES", "MAX_SEED", "MEDMNIST_SIZES", "OPTIMIZERS",
    "REPORT_KEYS", "REPORT_SECTIONS", "REQUIRED", "SCHEDULERS", "SELECTION_METRICS", "SLURM_KEYS", "STEMS",
    "STRATEGIES", "SYNONYMS", "TASKS", "TOP_LEVEL", "TRAIN_KEYS", "Augment", "AugmentOp", "BackboneSpec",
    "ConfigError", "ConfigErrors", "DatasetSpec", "Experiment", "LauncherConfig", "Overrides", "PipelineError",
    "ReportConfig", "SlurmConfig", "TrainConfig", "Validator", "did_you_mean", "limit", "load_experiment",
    "parse_augment", "parse_launcher", "parse_notes_markdown", "read_text_file",
]
