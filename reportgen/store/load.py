"""The one reader of a results store: every record of a run, read once, typed, through the link checks.

:func:`load_run` reads the run-level files (``run.json``, ``experiment.toml``, ``candidates.json``,
``datasets/<name>.json`` and each dataset's ``samples.json``) and, per finished cell, every record the
cell holds (``cell.json`` … ``result.json``, both predictions files, and the optional ``layers.json``,
``augment_preview.json`` and ``explain.json`` — None in stores written before they existed). It notes
which unfinished cells left ``failed.json``. Every file is read through :func:`safepath.check_inside`,
so a symbolic link anywhere from the run folder down is a StoreError naming it, never followed; a
damaged or hand-edited record is a StoreError naming the file and key (:mod:`.read`). PNGs the report
shows are resolved to :class:`~reportgen.store.images.StoreImage` references, not decoded.

The report, ``check`` and the exporters receive these objects: nothing under ``reportgen/report/``
opens a store file (``tests/report/test_no_store_io.py``). Torch-free: ``render`` imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..errors import StoreError
from . import safepath
from .images import StoreImage, image_ref, required_image
from .read import (
    FAILED_FILE,
    RESULT_FILE,
    Predictions,
    parse_record,
    read_epochs,
    read_json_object,
    read_predictions,
    read_record,
)
from .schema import (
    ArchRecord,
    AugmentPreview,
    CandidatesRecord,
    CellRecord,
    DataRecord,
    DatasetFacts,
    EnvRecord,
    EpochRow,
    ExperimentRecord,
    ExplainRecord,
    LayerSummary,
    MetricsRecord,
    Record,
    ResultRecord,
    RunRecord,
    SampleIndex,
    SplitMetrics,
)

SPLITS = ("val", "test")  # the splits whose predictions a cell stores
EXPERIMENT_TOML = "experiment.toml"  # the byte copy of the TOML the run was started from
PREVIEW_FOLDER = "augment_preview"  # the PNGs augment_preview.json lists
SAMPLES_FOLDER = "samples"  # datasets/<name>/samples/: the PNGs samples.json lists
R = TypeVar("R", bound=Record)


@dataclass
class CellResult:
    """Everything the store holds for one finished cell, as typed records (no torch).

    ``images``: the PNGs the cell's records list, by their path relative to the cell folder
    (``augment_preview/<name>.png``, ``explain/test_0.png``); None for a name a record may not list.
    """

    path: Path
    cell: CellRecord
    env: EnvRecord
    data: DataRecord
    arch: ArchRecord
    epochs: list[EpochRow]
    metrics: MetricsRecord
    result: ResultRecord
    _predictions: dict[str, Predictions] = field(default_factory=dict, repr=False)
    layers: LayerSummary | None = None  # layers.json (stores before it: None)
    augment_preview: AugmentPreview | None = None  # augment_preview.json (augment = "none", older stores: None)
    explain: ExplainRecord | None = None  # explain.json (cells trained before reportgen wrote one: None)
    images: dict[str, StoreImage | None] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        return self.cell.id

    @property
    def test(self) -> SplitMetrics:
        return self.metrics.test

    def predictions(self, split: str = "test") -> Predictions:
        """The stored predictions of ``split`` (read by :func:`load_cell`; a CellResult made by hand reads them
        here, once)."""
        if split not in self._predictions:
            self._predictions[split] = read_predictions(self.path / f"predictions_{split}.csv")
        return self._predictions[split]


@dataclass
class RunResults:
    """A whole run as the store holds it: the run record, finished cells in planned order, run-level records.

    ``images``: the PNGs of the datasets' sample indexes, by their path relative to the run folder
    (``datasets/<name>/samples/<file>``); None for a name an index may not list.
    """

    path: Path
    run: RunRecord
    cells: list[CellResult]
    missing: list[str] = field(default_factory=list)  # planned but not finished
    datasets: dict[str, DatasetFacts] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # ids in ``missing`` whose last attempt left failed.json
    candidates: CandidatesRecord | None = None  # candidates.json (stores before it: None)
    samples: dict[str, SampleIndex] = field(default_factory=dict)  # datasets/<name>/samples.json by dataset
    experiment_toml: str | None = None  # experiment.toml as text (undecodable bytes replaced); None if absent
    images: dict[str, StoreImage | None] = field(default_factory=dict, repr=False)

    @property
    def experiment(self) -> ExperimentRecord:
        return self.run.experiment


# --------------------------------------------------------------------------- one file, checked
def _inside(root: Path, path: Path) -> Path:
    return safepath.check_inside(root, path, action="read")


def _record(cls: type[R], root: Path, path: Path) -> R:
    return read_record(cls, _inside(root, path))


def _optional(cls: type[R], root: Path, path: Path) -> R | None:
    """An optional record: None when the file does not exist; a link or a damaged file is a StoreError."""
    return read_record(cls, path) if _inside(root, path).is_file() else None


# --------------------------------------------------------------------------- cells
def load_cell(path: Path, *, root: Path | None = None) -> CellResult:
    """Every record of one finished cell. ``root``: the run folder the link check starts from (default: the
    cell folder itself)."""
    path = Path(path)
    root = path if root is None else Path(root)
    _inside(root, path)
    c = CellResult(
        path=path,
        cell=_record(CellRecord, root, path / CellRecord.FILE),
        env=_record(EnvRecord, root, path / EnvRecord.FILE),
        data=_record(DataRecord, root, path / DataRecord.FILE),
        arch=_record(ArchRecord, root, path / ArchRecord.FILE),
        epochs=read_epochs(_inside(root, path / EpochRow.FILE)),
        metrics=_record(MetricsRecord, root, path / MetricsRecord.FILE),
        result=_record(ResultRecord, root, path / RESULT_FILE),
        _predictions={s: read_predictions(_inside(root, path / f"predictions_{s}.csv")) for s in SPLITS},
        layers=_optional(LayerSummary, root, path / LayerSummary.FILE),
        augment_preview=_optional(AugmentPreview, root, path / AugmentPreview.FILE),
        explain=_optional(ExplainRecord, root, path / ExplainRecord.FILE),
    )
    if c.augment_preview is not None:
        folder = path / PREVIEW_FOLDER
        for img in c.augment_preview.images:
            for name in (img.before, *img.after):
                c.images[f"{PREVIEW_FOLDER}/{name}"] = image_ref(root, folder, name)
    if c.explain is not None:
        record = path / ExplainRecord.FILE
        for key, items in (("mistakes", c.explain.mistakes), ("cam_items", c.explain.cam_items)):
            for i, item in enumerate(items):
                for attr in ("image", "cam") if key == "cam_items" else ("image",):
                    rel = getattr(item, attr)
                    c.images[rel] = required_image(root, path, rel, record=record, key=f"{key}.{i}.{attr}")
    return c


def is_finished(cell_dir: Path) -> bool:
    return (Path(cell_dir) / RESULT_FILE).is_file()


# --------------------------------------------------------------------------- the run
def _run_record(run_dir: Path) -> RunRecord:
    path = _inside(run_dir, run_dir / RunRecord.FILE)
    raw = read_json_object(path)
    listed = raw.get("cells", [])
    if not isinstance(listed, list) or not all(isinstance(c, str) and c and "/" not in c and c not in (".", "..")
                                               for c in listed):
        raise StoreError("run.json: cells must be a list of cell ids", file=path, key="cells",
                         fix="rerun `reportgen run` to rewrite it")
    return parse_record(RunRecord, raw, file=path)


def _samples(run_dir: Path, images: dict[str, StoreImage | None]) -> dict[str, SampleIndex]:
    out = {}
    for path in sorted((run_dir / "datasets").glob(f"*/{SampleIndex.FILE.rsplit('/', 1)[-1]}")):
        name = path.parent.name
        index = _optional(SampleIndex, run_dir, path)
        if index is None:
            continue
        out[name] = index
        for x in index.samples:
            images[f"datasets/{name}/{SAMPLES_FOLDER}/{x.file}"] = image_ref(run_dir, path.parent / SAMPLES_FOLDER,
                                                                              x.file)
    return out


def load_run(run_dir: Path) -> RunResults:
    """Load every record of a run, finished cells in planned order (see the module docstring)."""
    run_dir = Path(run_dir)
    if not (run_dir / RunRecord.FILE).is_file():
        raise StoreError("no results store here (run.json is missing)", file=run_dir,
                         fix="run `reportgen run EXPERIMENT.toml` first, or pass the run folder")
    run = _run_record(run_dir)
    # Finished cells on disk that run.json does not list (an older run.json) still count.
    on_disk = sorted(p.parent.name for p in (run_dir / "cells").glob(f"*/{RESULT_FILE}"))
    cells, missing, failed = [], [], set()
    for cid in run.cells + [c for c in on_disk if c not in run.cells]:
        cdir = _inside(run_dir, run_dir / "cells" / cid)
        if is_finished(cdir):
            cells.append(load_cell(cdir, root=run_dir))
        else:
            missing.append(cid)
            if _inside(run_dir, cdir / FAILED_FILE).is_file():
                failed.add(cid)
    datasets = {p.stem: _record(DatasetFacts, run_dir, p) for p in sorted((run_dir / "datasets").glob("*.json"))}
    images: dict[str, StoreImage | None] = {}
    samples = _samples(run_dir, images)
    toml = _inside(run_dir, run_dir / EXPERIMENT_TOML)
    return RunResults(path=run_dir, run=run, cells=cells, missing=missing, datasets=datasets, failed=failed,
                      candidates=_optional(CandidatesRecord, run_dir, run_dir / CandidatesRecord.FILE),
                      samples=samples, images=images,
                      experiment_toml=toml.read_text(encoding="utf-8", errors="replace") if toml.is_file() else None)
