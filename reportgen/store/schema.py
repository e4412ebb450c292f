"""The results store's records: one typed class per file, used by the writer (runner) and every reader.

The runner builds these objects and :func:`reportgen.store.write_record` serialises them; the report,
``reportgen check`` and the exporters load the same classes. A record rejects unknown keys and
missing keys, so a reader can never read a key the writer does not write, and a hand-edited or
truncated file is a :class:`~reportgen.errors.StoreError` naming the file and the key — never a
silently empty "n/a". ``docs/results-store.md`` lists these fields; a test keeps the two in step.

Torch-free: ``render`` imports this module.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

# The experiment's typed tables (stdlib dataclasses, validated here by pydantic): torch-free, like this module.
from ..config.types import BackboneSpec, DatasetSpec, Overrides, ReportConfig, TrainConfig
from ..registry import metrics as metric_registry

SCHEMA = 3


class Record(BaseModel):
    """Base: strict about keys, tolerant of int-for-float, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())
    FILE: ClassVar[str] = ""


# --------------------------------------------------------------------------- datasets/<name>.json, data.json
class SplitCount(Record):
    n: int
    counts: list[int]


class ValSplit(Record):
    """How the validation split was decided (official kept, or carved from train)."""

    source: str  # "official" | "carved"
    official_n: int | None
    n: int
    min_val_size: int
    carved_from: str | None
    fraction: float | None
    seed: int | None
    small: bool
    reason: str
    # Carved by group (patient): {"by", "rule", "method", "n_splits", "seed", "groups_total", "groups_val",
    # "fraction_actual"} (reportgen.data.groups.carve); None when carved by image or not carved.
    grouped: dict[str, Any] | None = None


class Subsample(Record):
    from_n: int
    to_n: int
    seed: int


class DatasetFacts(Record):
    """What loading a dataset found: splits, class counts, how val was made, duplicates across splits."""

    FILE: ClassVar[str] = "datasets/{name}.json"
    name: str
    kind: str
    classes: list[str]
    task: str
    color: str
    splits: dict[str, SplitCount]
    val_carved: dict[str, Any] | None
    val_split: ValSplit | None
    train_subsampled: Subsample | None
    description: str
    credit: str
    duplicates: dict[str, Any] | None = None  # only in datasets/<name>.json (computed once per run)
    # How stored intensities became 8-bit input: {"policy", "window", "census": {"source": {..}, "mapping": {..}}}
    # (reportgen.data.decode); None in stores written before it existed.
    intensity: dict[str, Any] | None = None
    # Declared groups (patients) per split and their overlap across splits (reportgen.data.groups.overlap_record).
    groups: dict[str, Any] | None = None
    # kind = "medmnist": {"name", "size", "file", "splits": "official"} for matching published baselines.
    medmnist: dict[str, Any] | None = None


class PipelineStep(Record):
    """One step of the input pipeline: an op of reportgen.data.pipeline.OPS with its parameters."""

    op: str
    params: dict[str, Any]
    stage: str  # "decode" (once, uint8, cached) | "batch" (each training batch, on the device)


class Pipeline(Record):
    train: list[PipelineStep]
    eval: list[PipelineStep]  # validation and test


class DataRecord(DatasetFacts):
    """data.json: the dataset facts as this cell saw them, plus its input size and pipeline."""

    FILE: ClassVar[str] = "data.json"
    input_size: int
    cache_keys: dict[str, str]
    preprocessing: str
    augment: str | list[dict[str, Any]]  # the [train] augment value: a preset name or the op list
    pipeline: Pipeline | None = None  # the exact ordered steps per split (stores before pipelines: None)


# --------------------------------------------------------------------------- cell.json, env.json, arch.json
class StrategySemantics(Record):
    init: str
    backbone_trainable: bool | str  # warm-up: "after warm-up"
    backbone_mode: str
    head: str
    frozen_epochs: int
    description_key: str


class CellRecord(Record):
    """cell.json: the resolved configuration of one cell (written before training)."""

    FILE: ClassVar[str] = "cell.json"
    id: str
    dataset: str
    dataset_source: dict[str, Any]
    backbone: str
    backbone_label: str
    weights: str
    strategy: str
    seed: int
    input_size: int
    strategy_semantics: StrategySemantics
    train: TrainConfig  # the cell's [train] settings after overrides (config/types.py), as its id hashed them
    num_classes: int
    classes: list[str]
    task: str
    stem: str = "default"  # [[backbones]] stem; "small" = 3×3 stride-1 stem, no max-pool (see arch.json stem)


class EnvRecord(Record):
    FILE: ClassVar[str] = "env.json"
    reportgen: str
    python: str
    torch: str
    torchvision: str
    numpy: str
    cuda: str | None
    cudnn: int | None
    device: str
    device_name: str
    cpu_count: int | None
    torch_threads: int
    platform: str
    git_commit: str | None
    git_dirty: bool | None
    host: str


class ArchRecord(Record):
    """arch.json: parameter and MAC counts of the model as built for this cell."""

    FILE: ClassVar[str] = "arch.json"
    params_total: int
    params_trainable: int
    params_frozen: int
    params_published: int | None
    params_note: str | None
    params_aux_dropped: int | None
    param_bytes: int
    macs: float | None
    macs_tool: str | None
    macs_fvcore: float | None
    macs_counter: float | None
    macs_torchinfo: float | None
    macs_unsupported_ops: dict[str, int]
    macs_errors: dict[str, str]
    torchinfo_error: str | None
    input_size: list[int]
    imagenet: dict[str, Any] | None
    macs_published: float | None
    published_size: int | None
    macs_at_published_size: float | None
    macs_at_224_vs_meta: float | None
    head: str
    head_in_features: int | None
    head_out_features: int | None
    weights: str
    backbone: str
    normalization: dict[str, list[float]]
    stem: dict[str, Any] | None = None  # stem = "small": {kind, changes, random_init}; None = the default stem


# --------------------------------------------------------------------------- epochs.csv
class EpochRow(Record):
    """One row of epochs.csv (``val_auc`` is empty when undefined)."""

    FILE: ClassVar[str] = "epochs.csv"
    epoch: int
    stage: str
    train_loss: float
    train_acc: float
    train_macro_f1: float
    val_loss: float
    val_acc: float
    val_macro_f1: float
    val_auc: float | None
    lr: float
    seconds: float
    peak_mem_mb: float
    # The criterion the optimizer minimised (class weights, label smoothing) as a mean over the epoch's
    # batches; train_loss and val_loss are plain NLL, the same quantity as the test loss. Empty in stores
    # written before it existed (their train_loss was the criterion and val_loss the criterion on val).
    train_objective: float | None = None


# --------------------------------------------------------------------------- metrics.json
class PerClass(Record):
    name: str
    precision: float | None
    recall: float | None
    f1: float | None
    support: int
    precision_ci: tuple[float | None, float | None]  # Wilson 95 %, over the class's predictions
    recall_ci: tuple[float | None, float | None]  # Wilson 95 %, over the class's support
    auc: float | None  # one-vs-rest


class ConfusedPair(Record):
    """One off-diagonal confusion cell: ``count`` samples of class ``true`` predicted as ``predicted``."""

    true: str
    predicted: str
    count: int
    share: float  # count / support of the true class


class ThresholdBlock(Record):
    threshold: float
    sensitivity: float | None
    specificity: float | None
    ppv: float | None
    npv: float | None
    accuracy: float | None
    tp: int
    fp: int
    tn: int
    fn: int


class Bootstrap(Record):
    method: str
    n_boot: int
    seed: int
    level: float


class SplitMetrics(Record):
    """``reportgen.describe.metrics.summarize`` of one split: the one object every table, figure and sentence reads."""

    n: int
    class_names: list[str]
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    weighted_f1: float
    auc: float | None
    ece: float
    kappa_quadratic: float | None
    loss: float  # mean cross-entropy of the stored probabilities (unweighted, no label smoothing)
    per_class: list[PerClass]
    confused_pairs: list[ConfusedPair]  # most frequent first
    confusion_matrix: list[list[int]]
    confusion_matrix_normalized: list[list[float | None]]
    prevalence: list[float]
    majority_baseline_accuracy: float
    ci: dict[str, tuple[float | None, float | None]]
    bootstrap: Bootstrap
    binary: dict[str, ThresholdBlock | None] | None  # at_0.5 and at_val_youden, binary tasks only

    def ci_of(self, name: str) -> tuple[float | None, float | None] | None:
        return self.ci.get(name)


class MetricsRecord(Record):
    FILE: ClassVar[str] = "metrics.json"
    val: SplitMetrics
    test: SplitMetrics


# --------------------------------------------------------------------------- result.json
HEADLINE = metric_registry.HEADLINE  # result.json's "test" block


class StageRecord(Record):
    """One stage of a cell's training as it ran (``models.strategies.STAGES``): a warm-up has two."""

    name: str  # "frozen" | "finetune" | "scratch": epochs.csv's stage
    trains: str  # "head" (the head and any newly initialised layer) | "all"
    first_epoch: int
    epochs: int
    trainable_params: int
    seconds: float
    peak_mem_mb: float
    bn_recalibration_batches: int = 0  # batches the BatchNorm statistics were recomputed on, last epoch


class ResultRecord(Record):
    """result.json, written last: its presence marks a finished cell."""

    FILE: ClassVar[str] = "result.json"
    status: str
    cell_id: str
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    selection_metric: str
    best_val: float | None
    best_train_acc: float | None
    wall_time_s: float
    train_time_s: float
    peak_mem_mb: float
    peak_mem_kind: str
    frozen_bn_drift: float | None
    frozen_mode: str | None
    batch_size_used: int
    oom_retries: int
    amp_dtype: str | None
    channels_last: bool
    compiled: bool
    youden_threshold_val: float | None
    resumed_from_epoch: int | None
    test: dict[str, float | None]
    finished_at: str
    class_weights: list[float] | None = None  # per class, as the loss used them (class_weighted_loss)
    sampler_weights: list[float] | None = None  # per class, one image's draw weight (weighted_sampler)
    # The stages that ran, in order (None in older stores). A strategy whose planned stages did not all
    # run (a warm-up longer than the run) has stages_complete = False: it is not what its name says.
    stages: list[StageRecord] | None = None
    stages_planned: list[str] | None = None
    stages_complete: bool | None = None
    eval_batch_size: int | None = None  # every evaluation of the cell (per-epoch validation, final scoring)
    # Eval-mode vs train-mode (BatchNorm batch statistics) outputs on the validation split, measured when
    # the eval-mode predictions were (near-)constant (train.bn.mode_gap); None otherwise.
    mode_gap: dict[str, Any] | None = None


# --------------------------------------------------------------------------- run.json
class SkippedCell(Record):
    dataset: str
    backbone: str
    strategy: str
    seed: int
    reason: str


class ExperimentRecord(Record):
    """run.json ``experiment``: the parsed experiment (``config.Experiment.to_dict``), read back into the same
    typed objects the parser built (``config/types.py``: one definition of every key, its type and default).

    A key added to the config after a store was written takes its default when that store is read; an
    unknown key is refused like any other record's.
    """

    name: str
    source: str
    seeds: list[int]
    strategies: list[str]
    report: ReportConfig = ReportConfig()
    datasets: list[DatasetSpec]
    backbones: list[BackboneSpec]
    train: TrainConfig = TrainConfig()
    overrides: Overrides = Overrides()
    exclude: list[dict[str, Any]] = []

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, exactly as run.json holds it."""
        return self.model_dump(mode="json")

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style reading, kept for the report's readers written against the untyped dict."""
        return getattr(self, key) if key in type(self).model_fields else default

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        raise KeyError(key)


class RunRecord(Record):
    FILE: ClassVar[str] = "run.json"
    schema_version: int
    name: str
    created_at: str
    source: str
    experiment: ExperimentRecord
    cells: list[str]
    skipped: list[SkippedCell]


# --------------------------------------------------------------------------- analysis/*.json
class Finding(Record):
    """A validity finding as data: the report words it in each language from ``id`` and ``evidence``."""

    id: str
    severity: str  # "high" | "warning" | "info"
    scope: dict[str, Any]
    evidence: dict[str, Any]


class FindingsRecord(Record):
    FILE: ClassVar[str] = "analysis/findings.json"
    source: str
    findings: list[Finding]



# --------------------------------------------------------------------------- data the grader can see (PNG indexes)
class SampleImage(Record):
    """One sample image written as a PNG: which image of which split, and its file."""

    split: str
    index: int  # position in the split (as in predictions_*.csv)
    sample_id: str
    label: int
    class_name: str
    file: str  # a plain file name in the index's folder


class SampleIndex(Record):
    """datasets/<name>/samples.json: a few real images per class per split, as the model was fed them."""

    FILE: ClassVar[str] = "datasets/{name}/samples.json"
    dataset: str
    classes: list[str]
    input_size: int  # the decoded size (px) the PNGs hold before upscaling
    scale: int  # nearest-neighbour upscale factor (1 = none): PNG[::scale, ::scale] is the decoded image
    color: str
    per_class: int
    method: str
    samples: list[SampleImage]


class PreviewImage(Record):
    """One training image before the training pipeline and after a few random draws of it."""

    index: int
    sample_id: str
    label: int
    class_name: str
    before: str
    after: list[str]


class AugmentPreview(Record):
    """augment_preview.json (+ augment_preview/*.png): the cell's augmentation applied to training images."""

    FILE: ClassVar[str] = "augment_preview.json"
    cell_id: str
    dataset: str
    pipeline: str  # the cell's `augment` setting as text (the report groups previews by it)
    input_size: int
    scale: int
    seed: int
    draws: int
    images: list[PreviewImage]


# --------------------------------------------------------------------------- explain.json (reportgen.explain)
class MistakeItem(Record):
    """One confidently wrong test image: its identity, the call, and its PNG (relative to the cell folder)."""

    sample_id: str
    index: int  # position in predictions_test.csv
    true: int
    predicted: int
    confidence: float  # the stored probability of the predicted (wrong) class
    image: str


class CamItem(Record):
    """One test image of the dataset's fixed Grad-CAM set, with this cell's call and map."""

    sample_id: str
    index: int
    true: int
    predicted: int
    confidence: float
    target: int  # the class the CAM explains (the predicted one)
    image: str  # the input as the model saw it (before normalization), PNG
    cam: str  # the CAM at input resolution, 8-bit grayscale PNG (0 = no weight, 255 = the image's maximum)


class ExplainRecord(Record):
    """explain.json: the confident-mistakes gallery and the Grad-CAM set of one cell (written by the runner)."""

    FILE: ClassVar[str] = "explain.json"
    mistakes_k: int
    n_wrong: int
    mistakes: list[MistakeItem]
    cam_status: str  # "done" | "skipped" (package missing, no spatial map) | "failed" (the cell still finished)
    cam_reason: str | None
    cam_method: str | None
    cam_package: str | None
    cam_layer: str | None
    cam_grid: list[int] | None
    cam_target: str  # "predicted"
    cam_per_class: int
    cam_items: list[CamItem]
    seconds: float




# --------------------------------------------------------------------------- candidates.json, layers.json
class Candidate(Record):
    """One candidate backbone's published ImageNet figures (torchvision weights metadata, read offline)."""

    backbone: str
    chosen: bool  # one of the experiment's [[backbones]]
    weights: str | None  # the weights enum member ("ResNet50_Weights.IMAGENET1K_V2") or the offline file
    acc1: float | None
    acc5: float | None
    num_params: int | None
    gflops: float | None  # torchvision's "_ops" at crop_size (GMACs, despite the name)
    crop_size: int | None
    file_size_mb: float | None  # MiB, torchvision's "_file_size" (offline Lite weights: the file's size)
    source: str  # "torchvision" | "efficientnet-lite" | "none"


class CandidatesRecord(Record):
    """candidates.json: the backbones considered in model selection, chosen ones marked."""

    FILE: ClassVar[str] = "candidates.json"
    torchvision: str
    candidates: list[Candidate]


class LayerRow(Record):
    """One module of a torchinfo summary (depth 1 = children of the model)."""

    depth: int
    name: str  # dotted module path ("layer1.0")
    type: str
    output_shape: list[int] | None
    params: int  # parameters of this module and its children
    params_trainable: int


class LayerSummary(Record):
    """layers.json: the per-layer summary of the cell's model as trained (torchinfo at ``depth``)."""

    FILE: ClassVar[str] = "layers.json"
    backbone: str
    strategy: str
    stage: str  # "frozen" | "finetune": the requires_grad state the trainable column shows
    input_shape: list[int]
    depth: int
    tool: str  # "torchinfo <version>"
    rows: list[LayerRow]
    params_total: int
    params_trainable: int
    params_frozen: int
    error: str | None  # torchinfo failed: rows is empty and this says why


RECORDS: tuple[type[Record], ...] = (DatasetFacts, DataRecord, CellRecord, EnvRecord, ArchRecord, EpochRow,
                                     MetricsRecord, ResultRecord, RunRecord, FindingsRecord, CandidatesRecord,
                                     Candidate, LayerSummary, LayerRow, SampleIndex, AugmentPreview, PerClass,
                                     ConfusedPair, ExplainRecord)
