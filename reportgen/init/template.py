"""The starter TOML's text: every value init chose, with a comment that says what it saw and why."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from .machine import Machine
from .survey import Survey

CPU_TRAIN_CAP = 2000  # images per epoch on a CPU for a first try; the comment says how to lift it


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a TOML basic string is JSON-compatible for these values


def _rel(target: Path, toml: Path) -> str:
    """Relative to the TOML (how the config resolves it) unless that climbs far; then absolute."""
    rel = os.path.relpath(target, toml.parent)
    return str(target) if rel.startswith(os.path.join("..", "..", "..")) else rel


def _sizes(s: Survey) -> str:
    if not s.sizes:
        return "no image could be opened in the sample"
    common = s.sizes.most_common(3)
    shown = ", ".join(f"{w}×{h} px ({n})" for (w, h), n in common)
    more = f", and {len(s.sizes) - 3} other sizes" if len(s.sizes) > 3 else ""
    return f"{shown}{more}"


def _counts(s: Survey) -> list[str]:
    out = []
    for split, per in s.counts.items():
        label = "all images" if split == "all" else f"{split}/"
        out.append(f"#   {label}: " + ", ".join(f"{c} {n}" for c, n in per.items()) + f" (total {sum(per.values())})")
    return out


def starter_text(s: Survey, m: Machine, *, name: str, dataset_name: str, toml: Path, lists: dict[str, Path], image_root: Path | None,
                 epochs: int | None, input_size: int | None) -> str:
    size = input_size or m.input_size
    n_epochs = epochs or m.epochs
    train_n = sum(s.counts.get("train", s.counts.get("all", {})).values())
    n_min = min((n for per in s.counts.values() for n in per.values()), default=0)
    sampled = sum(s.modes.values())
    colour_note = (f"{s.modes.get('gray', 0)} of {sampled} sampled images are grayscale"
                   if sampled else "no image could be sampled")
    L = [
        f"# Starter experiment written by `reportgen init` on {dt.date.today().isoformat()} from",
        f"#   {s.source}",
        f"# Machine: {m.why}.",
        "# Next: `reportgen validate THIS_FILE` (reads every image), `reportgen plan THIS_FILE` (cost, timed on",
        "# this machine), `reportgen run THIS_FILE`, `reportgen render runs/NAME --pdf`. Every key is optional",
        "# unless noted; experiments/demo.toml shows all of them.",
        "",
        "[experiment]",
        f"name = {_q(name)}",
        'output_dir = "runs"           # results go to runs/<name>/ (relative to where you run reportgen)',
        "seeds = [0]                   # add seeds ([0, 1, 2]) for error bars once the first run works",
        'strategies = ["finetune", "frozen", "scratch"]  # all weights / only a new head / random init',
        "",
        "[report]",
        f"title = {_q('Transfer learning on ' + dataset_name)}",
        'course = ""                   # fill in: course, author, student_id appear on the title page',
        'author = ""',
        'student_id = ""',
        'language = "both"             # "zh-TW", "en" or "both"',
        "",
        "[[datasets]]",
        f"name = {_q(dataset_name)}",
    ]
    if s.layout == "npz":
        L += ['kind = "npz"', f"path = {_q(_rel(s.source, toml))}"]
    elif s.layout == "split_folders":
        L += ['kind = "folder"              # train/ (val/) test/, one folder per class',
              f"path = {_q(_rel(s.source, toml))}"]
    else:
        assert image_root is not None
        origin = "class folders with no train/test split" if s.layout == "class_folders" else "one CSV list"
        L += [f'kind = "csv"                 # {origin}: init wrote a fixed, stratified 80/20 train/test',
              "                              # split into these lists (edit or replace them freely)",
              f"train_csv = {_q(_rel(lists['train'], toml))}"]
        if "val" in lists:
            L.append(f"val_csv = {_q(_rel(lists['val'], toml))}")
        L += [f"test_csv = {_q(_rel(lists['test'], toml))}", f"image_root = {_q(_rel(image_root, toml))}",
              'path_column = "image"', 'label_column = "label"']
    class_note = ("# npz labels are numbers: rename these to the real class names, in label order"
                  if s.layout == "npz" else "# as found (names are case-sensitive)")
    L += [f"classes = [{', '.join(_q(c) for c in s.classes)}]  {class_note}",
          "# Images found:", *_counts(s),
          f"# Sampled sizes: {_sizes(s)}; {colour_note}.",
          f"color = {_q(s.color)}" + ("               # from the sample; \"auto\" decides per dataset"
                                       if s.color != "auto" else "               # mixed sample: decided when decoded")]
    if n_min and n_min < 20:
        L.append("# A class has fewer than 20 images: metrics will be noisy (the report says so).")
    if m.device == "cpu" and train_n > CPU_TRAIN_CAP:
        L += [f"max_train_samples = {CPU_TRAIN_CAP}      # a stratified subset of the {train_n} training images keeps "
              "a CPU run short;", "                              # remove it for the final run"]
    if train_n < 1000:
        L += ["val_fraction = 0.2            # no or small validation split: a stratified fifth of train selects "
              "the epoch", "min_val_size = 10"]
    L += ['description = ""              # one sentence for the report: what the images show',
          'credit = ""                   # where the data comes from (authors, licence)', ""]
    for name_b, weights, reason in m.backbones:
        L += ["[[backbones]]", f"name = {_q(name_b)}",
              f"weights = {_q(weights)}" + ("         # installed with reportgen: no download" if weights == "offline"
                                            else "         # torchvision's best ImageNet weights (cached or downloaded once)"),
              f"input_size = {size}" + ("             # images are resized once, when decoded; larger is slower"
                                        if size < 224 else ""),
              f"reason = {_q(reason)}", ""]
    L += ["[train]", 'optimizer = "adamw"', "lr = 1e-3",
          f"batch_size = {m.batch_size}",
          f"epochs = {n_epochs}" + "                    # a first try; `reportgen plan` times it before you commit",
          'scheduler = "cosine"', 'selection_metric = "val_macro_f1"  # the epoch kept is the best on validation',
          'augment = "none"              # "flips" or "medical" once it works (a left-right flip of a chest',
          "                              # X-ray moves the heart: think before you add it)", "",
          "[overrides.strategy.frozen]   # only the head trains: cheap, so more epochs and a higher lr",
          f"epochs = {min(30, 3 * n_epochs)}", "lr = 3e-3",
          'augment = "none"              # lets the backbone run once and the head train on cached features', "",
          "[overrides.strategy.scratch]", "lr = 3e-3", ""]
    return "\n".join(L)
