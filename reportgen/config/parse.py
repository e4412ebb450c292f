"""The experiment file: TOML → a validated, typed :class:`~.types.Experiment`.

Each table is checked against the keys of its typed object (:mod:`.types`), so an unknown key is an
error with a did-you-mean; errors name the file and the dotted key path, and every error of a file is
reported in one message. This module never imports torch (nor data/): ``validate`` checks the things
that need torch (backbones, weights, data) in :mod:`reportgen.train.preflight`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .checking import COLLECTED, check_table, did_you_mean, report, resolve_path
from .expect import check_names as check_expect_names
from .keys import REPORT_SECTIONS, STRATEGIES, TOP_LEVEL
from .medmnist import check_spec as check_medmnist_spec
from .named_files import check_named_file
from .names import close_names, is_baseline, known_names
from .report import lang_text, parse_checklist, parse_tasks
from .tomlcheck import ConfigErrors, parse_toml
from .types import (
    BackboneSpec,
    DatasetSpec,
    Experiment,
    ExperimentTable,
    LauncherConfig,
    Overrides,
    ReportConfig,
    SlurmConfig,
    TrainConfig,
    keys_of,
)

EXPERIMENT_KEYS = keys_of(ExperimentTable)
REPORT_KEYS = keys_of(ReportConfig)
DATASET_KEYS = keys_of(DatasetSpec)
BACKBONE_KEYS = keys_of(BackboneSpec)
TRAIN_KEYS = keys_of(TrainConfig)
LAUNCHER_KEYS = keys_of(LauncherConfig)
SLURM_KEYS = keys_of(SlurmConfig)


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
    token = COLLECTED.set(errors)
    try:
        exp = _load(path, text, errors)
    except ConfigError as exc:  # a problem the rest of the file cannot be checked past
        errors.append(exc)
    except Exception:
        if not errors:
            raise
        # A knock-on failure of a document already known to be broken: report what was found.
    finally:
        COLLECTED.reset(token)
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
            hint = did_you_mean(k, TOP_LEVEL)
            report(ConfigError(f'unknown section "{k}"', file=path, key=k,
                               expected="one of " + ", ".join(TOP_LEVEL), fix=hint or "remove it"))

    exp = check_table(doc.get("experiment", {}), EXPERIMENT_KEYS, file=path, where="experiment")
    for i, s in enumerate(exp["strategies"]):
        if s not in STRATEGIES:
            report(ConfigError(f'unknown strategy "{s}"', file=path, key=f"experiment.strategies[{i}]",
                               expected="one of " + ", ".join(STRATEGIES),
                               fix=did_you_mean(s, STRATEGIES)
                               or f"use {', '.join(STRATEGIES[:-1])} or {STRATEGIES[-1]}"))
    if len(set(exp["strategies"])) != len(exp["strategies"]):
        raise ConfigError("a strategy is listed twice", file=path, key="experiment.strategies")

    report_cfg = _parse_report(doc.get("report", {}), file=path)
    dspecs = _parse_datasets(doc, file=path)
    bspecs = [BackboneSpec(**b, key=f"backbones[{i}]")
              for i, b in enumerate(_parse_list(doc, "backbones", BACKBONE_KEYS, file=path))]
    bspecs = _check_backbone_names(bspecs, doc.get("backbones"), file=path)
    _unique([b.name for b in bspecs], file=path, key="backbones", what="backbone name")
    # A task's premise names the experiment's strategies or backbones: checked now, before any compute.
    check_expect_names(report_cfg.tasks, strategies=exp["strategies"], backbones=[b.name for b in bspecs],
                       file=path)

    train = TrainConfig(**check_table(doc.get("train", {}), TRAIN_KEYS, file=path, where="train"))
    overrides = _parse_overrides(doc.get("overrides", {}), file=path,
                                 strategies=exp["strategies"], backbones=[b.name for b in bspecs])
    exclude = _parse_exclude(doc.get("exclude", []), file=path, exp=exp, dspecs=dspecs, bspecs=bspecs)

    name = exp["name"] or _name_from_stem(path.stem)
    experiment = Experiment(source=path, name=name,
                            output_dir=resolve_path(Path.cwd(), exp["output_dir"]) or Path("runs"),
                            seeds=exp["seeds"], strategies=exp["strategies"], report=report_cfg, datasets=dspecs,
                            backbones=bspecs, train=train, overrides=overrides, exclude=exclude, raw_text=text,
                            launcher=parse_launcher(doc.get("launcher", {}), file=path))
    _check_warmup_reaches_finetune(experiment, file=path)
    return experiment


def _parse_report(table: Any, *, file: Path) -> ReportConfig:
    """``[report]``: notes (inline and from notes_file), tasks, checklist, and today's date when none is given."""
    rep = check_table(table, REPORT_KEYS, file=file, where="report")
    for sec, txt in rep["notes"].items():
        if sec not in REPORT_SECTIONS:
            report(ConfigError(f'unknown report section "{sec}"', file=file, key=f"report.notes.{sec}",
                               expected="one of " + ", ".join(REPORT_SECTIONS),
                               fix=did_you_mean(sec, REPORT_SECTIONS) or "rename the note"))
            continue
        try:
            rep["notes"][sec] = lang_text(txt)
        except ValueError as exc:
            raise ConfigError("a note must be Markdown text", file=file, key=f"report.notes.{sec}",
                              expected=str(exc), fix=f'write {sec} = "…" in [report.notes]') from None
    if rep["notes_file"]:
        notes_path = resolve_path(file.parent, rep["notes_file"])
        assert notes_path is not None
        if not notes_path.is_file():
            raise ConfigError("notes file not found", file=file, key="report.notes_file",
                              expected=f"a Markdown file at {os.path.abspath(notes_path)}", fix="create it or remove the key")
        check_named_file(notes_path, toml=file, key="report.notes_file", what="notes file")
        rep["notes"] = {**parse_notes_markdown(notes_path), **rep["notes"]}
    rep["tasks"] = parse_tasks(rep["tasks"], file=file, read_text=read_text_file)
    rep["checklist"] = parse_checklist(rep["checklist"], file=file)
    if rep["date"] is None:
        rep["date"] = dt.date.today().isoformat()
    return ReportConfig(**rep)


def _parse_datasets(doc: dict, *, file: Path) -> list[DatasetSpec]:
    dspecs = []
    for i, d in enumerate(_parse_list(doc, "datasets", DATASET_KEYS, file=file)):
        key = f"datasets[{i}]"
        d = dict(d)
        for pk in ("path", "train_csv", "val_csv", "test_csv", "image_root", "root"):
            d[pk] = resolve_path(file.parent, d[pk])
        if d["kind"] in ("npz", "folder") and d["path"] is None:
            report(ConfigError(f'kind = "{d["kind"]}" needs a path', file=file, key=f"{key}.path",
                               expected="the .npz file" if d["kind"] == "npz"
                               else "the folder holding train/ val/ test/"))
        if d["kind"] == "csv":
            for req in ("train_csv", "test_csv"):
                if d[req] is None:
                    report(ConfigError(f'kind = "csv" needs {req}', file=file, key=f"{key}.{req}",
                                       expected="a CSV file with columns "
                                       f'"{d["path_column"]}" and "{d["label_column"]}"'))
        _check_medimg_keys(d, file=file, key=key)
        dspecs.append(DatasetSpec(**{**d, "classes": tuple(d["classes"]) if d["classes"] else None}, key=key))
    _unique([d.name for d in dspecs], file=file, key="datasets", what="dataset name")
    return dspecs


def _check_warmup_reaches_finetune(exp: Experiment, *, file: Path) -> None:
    """A warm-up cell whose frozen epochs fill its whole budget never fine-tunes: it would be a frozen cell
    reported as warm-up, so it is refused here, before any compute."""
    if "warmup" not in exp.strategies:
        return
    for b in exp.backbones:
        tc = exp.train_config(backbone=b.name, strategy="warmup")
        frozen, total = tc.warmup_frozen_epochs, tc.epochs
        if isinstance(frozen, int) and isinstance(total, int) and frozen >= total:
            where = exp.overrides.source_of("warmup_frozen_epochs", backbone=b.name, strategy="warmup")
            report(ConfigError(f"warm-up of {b.name} never reaches fine-tuning: warmup_frozen_epochs = {frozen} "
                               f"with epochs = {total}", file=file, key=where,
                               expected="fewer frozen warm-up epochs than epochs",
                               fix=f"set warmup_frozen_epochs below {total} (or raise epochs), or use the frozen "
                                   "strategy for a head-only run"))


def _check_medimg_keys(d: dict, *, file: Path, key: str) -> None:
    """The keys of issue 20 (groups, medmnist) against the dataset's kind; fills medmnist defaults."""
    if d["kind"] == "medmnist":
        check_medmnist_spec(d, file=file, key=key)
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
            report(ConfigError(f'unknown backbone "{b.name}"', file=file, key=f"{b.key}.name",
                               expected="a torchvision classification model (resnet18, efficientnet_b2, ...), "
                               "efficientnet_lite0/1/2, or a baseline (mlp, smallcnn)",
                               fix=(f"did you mean {' or '.join(repr(c) for c in close)}?" if close
                                    else "run `reportgen inspect --list` to see every name")))
        item = raw[i] if isinstance(raw, list) and i < len(raw) and isinstance(raw[i], dict) else {}
        if is_baseline(b.name) and "weights" not in item:
            b = BackboneSpec(**{**b.__dict__, "weights": "none"})
        out.append(b)
    return out


def parse_launcher(table: Any, *, file: Path) -> LauncherConfig:
    """``[launcher]`` and ``[launcher.slurm]`` with defaults filled in; unknown keys are errors."""
    out = check_table(table, LAUNCHER_KEYS, file=file, where="launcher")
    out["slurm"] = SlurmConfig(**check_table(out["slurm"], SLURM_KEYS, file=file, where="launcher.slurm"))
    return LauncherConfig(**out)


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
        report(ConfigError(f"no {section} declared", file=file, key=section,
                           fix=f"add at least one [[{section}]] table (see experiments/demo.toml)"))
        return []
    if not isinstance(items, list):
        report(ConfigError(f"{section} must be an array of tables", file=file, key=section,
                           expected=f"[[{section}]] blocks"))
        return []
    return [check_table(item, keys, file=file, where=f"{section}[{i}]") for i, item in enumerate(items)]


def _unique(names: list[str], *, file: Path, key: str, what: str) -> None:
    seen = set()
    for i, n in enumerate(names):
        if n in seen:
            report(ConfigError(f'{what} "{n}" is declared twice', file=file, key=f"{key}[{i}].name",
                               fix="give each one a distinct name"))
        seen.add(n)


def _parse_overrides(table: Any, *, file: Path, strategies: list[str], backbones: list[str]) -> Overrides:
    if not isinstance(table, dict):
        raise ConfigError("expected a table", file=file, key="overrides")
    out: dict[str, dict[str, dict[str, Any]]] = {"strategy": {}, "backbone": {}}
    for kind, sub in table.items():
        if kind not in out:
            report(ConfigError(f'unknown override kind "{kind}"', file=file, key=f"overrides.{kind}",
                               expected='"strategy" or "backbone"', fix=did_you_mean(kind, tuple(out))))
            continue
        if not isinstance(sub, dict):
            raise ConfigError(f"bad value {sub!r}: overrides.{kind} must be a table of tables", file=file,
                              key=f"overrides.{kind}", expected=f"[overrides.{kind}.<name>] with [train] keys",
                              fix=f"write e.g. [overrides.{kind}.{'frozen' if kind == 'strategy' else 'resnet18'}]"
                              " followed by lr = 0.003")
        names = strategies if kind == "strategy" else backbones
        for target, values in sub.items():
            if target not in names:
                report(ConfigError(f'override for unknown {kind} "{target}"', file=file,
                                   key=f"overrides.{kind}.{target}", expected="one of " + ", ".join(names),
                                   fix=did_you_mean(target, names) or (
                                       f'add "{target}" to [experiment] strategies' if kind == "strategy"
                                       else f'add a [[backbones]] entry named "{target}"')))
                continue
            checked = check_table(values, TRAIN_KEYS, file=file, where=f"overrides.{kind}.{target}")
            out[kind][target] = {k: checked[k] for k in values}  # only the keys the user set
    return Overrides(**out)


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
                report(ConfigError(f'unknown key "{k}"', file=file, key=f"exclude[{i}].{k}",
                                   expected="dataset, backbone, strategy or seed",
                                   fix=did_you_mean(k, tuple(valid))))
            elif v not in valid[k]:
                report(ConfigError(f'{k} "{v}" is not in the experiment', file=file, key=f"exclude[{i}].{k}",
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
