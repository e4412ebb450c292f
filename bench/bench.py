"""`make bench`: reportgen against the seeds' loop and the compute ceiling, and how it scales.

Timed in one process so ratios are comparable even on a shared machine (load average and CPU time
are recorded next to every number):

  (a) reportgen — a generated TOML through the real runner, decode-once cache cold at the start;
  (b) baseline — the seed notebooks' ``ImageFolder`` + PIL + ``DataLoader`` loop (bench/training.py);
  (c) ceiling — reportgen's own epoch on device-resident normalized inputs (bench/ceiling.py);
  scale — the input pipeline alone at 224 px, inline vs ``--launcher local --jobs 2``, and the hw4
  matrix projected onto 1 and 8 GPUs (bench/scale.py).

On CUDA it also measures training images/s at 224 px (bf16, channels_last) for resnet18 and resnet50
and the wall time of the hw4 matrix. Run it as ``make bench`` or ``.venv/bin/python -m bench``; the
functions return dicts and only ``main`` prints.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
from pathlib import Path
from typing import Any

import click

from bench.ceiling import Ceiling, FitEpochs, gpu_throughput, interleaved_ratio, warm_up
from bench.common import ROOT, Progress, _env, _peak_rss_mb, machine_info, prepare_images
from bench.scale import HW4, hw4_projection, launcher_compare, pipeline_throughput, step_costs
from bench.training import (
    _seed_summary,
    decode_for_reportgen,
    finetune_seed_study,
    run_baseline,
    run_reportgen,
    time_matrix,
)

TARGETS = {"frozen_speedup_min": 10.0, "frozen_acc_diff_max_points": 1.0, "finetune_epoch_ratio_min": 1.0,
           "finetune_epoch_ratio_max": 1.15, "demo_wall_max_s": 300.0, "gpu_fraction_of_ceiling_min": 0.7}


# --------------------------------------------------------------------------- the whole benchmark
def run_bench(*, size: int, backbone: str, epochs: int, frozen_epochs: int, batch_size: int, lr: float,
              device: str, n_images: int | None, baseline_workers: int, demo: bool,
              gpu_backbones: tuple[str, ...], hw4: bool, seeds: int = 1, launcher: bool = True,
              quick: bool = False, progress: Progress = lambda s: None) -> dict[str, Any]:
    """Run (a), (b), (c), scale (+ demo, + GPU on CUDA); return every measurement with ratios and verdicts."""
    import torch

    from reportgen.config import TrainConfig
    from reportgen.models.backbones import family
    from reportgen.train.preflight import preflight

    start_load = os.getloadavg()
    weights = "offline" if family(backbone) == "lite" else "none"
    eval_bs = TrainConfig(batch_size=batch_size).eval_batch  # reportgen's eval batch size when none is configured
    out: dict[str, Any] = {"machine": machine_info(), "load_average_start": list(start_load),
                           "settings": {"size": size, "backbone": backbone, "weights": weights, "epochs": epochs,
                                        "frozen_epochs": frozen_epochs, "batch_size": batch_size,
                                        "eval_batch_size": eval_bs, "lr": lr, "optimizer": "adamw",
                                        "scheduler": "cosine", "selection_metric": "val_acc",
                                        "augment": "none", "device": device, "baseline_workers": baseline_workers},
                           "targets": TARGETS}
    with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as tmp:
        work = Path(tmp)
        progress("preparing images")
        data = prepare_images(work / "images", n_images=n_images)
        out["data"] = data

        n = data["n"]
        progress("warm-up: one step at every batch shape")
        out["warm_up"] = warm_up(backbone=backbone, weights=weights, size=size, device=device,
                                 batch_sizes={b for b in (batch_size, n["train"] % batch_size) if b},
                                 eval_batch_sizes={b for b in (eval_bs, *(v % eval_bs for v in n.values())) if b})
        exp, dec = decode_for_reportgen(work / "a", data, backbone=backbone, weights=weights, size=size,
                                        epochs=epochs, frozen_epochs=frozen_epochs, batch_size=batch_size, lr=lr,
                                        progress=progress)
        # The ceiling trains with the fine-tune cell's own resolved [train] table: same optimizer,
        # loss, autocast dtype, memory format, batch size and batch order.
        finetune_cfg = next(c for c in preflight(exp).cells if c.strategy == "finetune").train
        ceiling = Ceiling(dec["arrays"], backbone=backbone, weights=weights, size=size, train_cfg=finetune_cfg,
                          device=device)
        gray = dec["arrays"]["train"][0].shape[1] == 1
        del dec["arrays"]
        # Ceiling and reportgen epochs alternate (C R C R … C), each reportgen epoch set against the
        # ceiling epochs on either side of it: on a shared machine the load changes under both alike.
        with _env("REPORTGEN_CACHE_DIR", str(dec["cache"])):
            rg_fit = FitEpochs(exp, device=device)
        progress(f"(c) ceiling vs reportgen's fit: {epochs} fine-tune epoch(s) each, interleaved")
        for _ in range(epochs):
            ceiling.epoch()
            rg_fit.epoch()
        ceiling.epoch()
        out["ceiling"], out["reportgen_fit"] = ceiling.summary(), rg_fit.summary()
        del ceiling, rg_fit
        progress("(a) reportgen: frozen + finetune cells through run_experiment")
        out["reportgen"] = {"decode": dec["decode"], **run_reportgen(exp, dec["cache"], device=device)}
        for strategy, n_ep in (("frozen", frozen_epochs), ("finetune", epochs)):
            progress(f"(b) baseline {strategy}: {n_ep} epoch(s), PIL + DataLoader every epoch")
            out.setdefault("baseline", {})[strategy] = run_baseline(
                work / "images", strategy=strategy, backbone=backbone, weights=weights, size=size, epochs=n_ep,
                batch_size=batch_size, eval_batch_size=eval_bs, lr=lr, workers=baseline_workers, gray=gray,
                device=device)

        if seeds > 1:
            out["finetune_seeds"] = finetune_seed_study(
                work / "seeds", data, dec["cache"], seeds=tuple(range(1, seeds)), backbone=backbone, weights=weights,
                size=size, epochs=epochs, batch_size=batch_size, eval_batch_size=eval_bs, lr=lr,
                workers=baseline_workers, gray=gray, device=device, progress=progress)
        if demo:
            progress("demo matrix: experiments/demo.toml, empty cache")
            demo_toml = ROOT / "experiments" / "demo.toml"
            out["demo"] = (time_matrix(demo_toml, work / "demo", device=device) if demo_toml.is_file()
                           else {"skipped": f"{demo_toml} not found"})
        if torch.cuda.is_available() and device.startswith("cuda"):
            out["gpu"] = {"available": True, "throughput": []}
            for name in gpu_backbones:
                progress(f"GPU: {name} at 224 px, bf16 + channels_last")
                out["gpu"]["throughput"].append(gpu_throughput(name))
            if hw4:
                progress("GPU: hw4 matrix")
                out["gpu"]["hw4"] = time_matrix(ROOT / "experiments" / "hw4.toml", work / "hw4", device=device)
        else:
            out["gpu"] = {"available": False, "note": "no CUDA device on this machine"}
        out["scale"] = _scale(work, data, out, device=device, launcher=launcher, quick=quick, progress=progress)
    out["peak_rss_mb"] = _peak_rss_mb()
    out["peak_rss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out["load_average_end"] = list(os.getloadavg())
    out["ratios"], out["verdicts"] = _ratios(out)
    return out


def _scale(work: Path, data: dict[str, Any], out: dict[str, Any], *, device: str, launcher: bool, quick: bool,
           progress: Progress) -> dict[str, Any]:
    """The input pipeline at 224 px, inline vs the local launcher, and the hw4 projection."""
    size, bs = (64, 16) if quick else (HW4["size"], 128)
    pipe = pipeline_throughput(work / "images", data["classes"], work / "pipeline", size=size, batch_size=bs,
                               reportgen_epochs=1 if quick else 8, baseline_epochs=1 if quick else 2,
                               workers=2, device=device, progress=progress)
    if launcher and not quick:
        launch = launcher_compare(work / "launcher", device=device, progress=progress)
    else:
        launch = {"skipped": "--quick" if quick else "--no-launcher"}
    cuda = device.startswith("cuda")
    costs = {}
    for backbone, hw4_bs in HW4["backbones"].items():
        progress(f"hw4 projection: {backbone} step cost at {size} px on {device}")
        costs[backbone] = step_costs(backbone, size=32 if quick else HW4["size"],
                                     batch_size=hw4_bs if cuda else (2 if quick else 8),
                                     device=device, reps=5 if cuda else 1)
    rg = out["reportgen"]["finetune"]
    projection = hw4_projection(costs, overhead_s=rg["wall_s"] - rg["train_time_s"],
                                decode_images_per_s=pipe["decode"]["images_per_s"], device=device)
    return {"pipeline": pipe, "launcher": launch, "hw4_projection": projection}


def _ratios(out: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rg, bl, ce = out["reportgen"], out["baseline"], out["ceiling"]
    decode_s = rg["decode"]["wall_s"]
    frozen_rg = rg["frozen"]["wall_s"] + decode_s  # the whole decode charged to this cell: conservative
    r: dict[str, Any] = {
        "frozen_speedup": bl["frozen"]["wall_s"] / frozen_rg,
        "frozen_speedup_without_decode": bl["frozen"]["wall_s"] / rg["frozen"]["wall_s"],
        "frozen_acc_diff_points": 100 * (rg["frozen"]["test_accuracy"] - bl["frozen"]["test_accuracy"]),
        "finetune_acc_diff_points": 100 * (rg["finetune"]["test_accuracy"] - bl["finetune"]["test_accuracy"]),
        # Fastest epoch over fastest epoch: on a shared machine the minimum is the least disturbed
        # estimate of each side; the means are kept next to it.
        "finetune_epoch_over_ceiling": interleaved_ratio(out["reportgen_fit"]["epoch_s"], ce["epoch_s"]),
        "finetune_epoch_over_ceiling_cpu": interleaved_ratio(out["reportgen_fit"]["epoch_cpu_s"], ce["epoch_cpu_s"]),
        "finetune_epoch_over_ceiling_fastest": out["reportgen_fit"]["epoch_min_s"] / ce["epoch_min_s"],
        "finetune_cell_epoch_over_ceiling": rg["finetune"]["epoch_min_s"] / ce["epoch_min_s"],
        "baseline_finetune_epoch_over_ceiling": bl["finetune"]["epoch_min_s"] / ce["epoch_min_s"],
        "finetune_cell_speedup": bl["finetune"]["wall_s"] / rg["finetune"]["wall_s"],
        "launcher_local_over_inline": out["scale"]["launcher"].get("local_over_inline"),
        "pipeline_reportgen_over_seeds": out["scale"]["pipeline"]["reportgen_over_seeds"],
    }
    t = out["targets"]
    verdicts = [
        _verdict("frozen cell speedup vs baseline (incl. decode)", r["frozen_speedup"], f"≥ {t['frozen_speedup_min']:g}×",
                 r["frozen_speedup"] >= t["frozen_speedup_min"], "{:.1f}×"),
        _verdict("frozen test accuracy diff (points)", r["frozen_acc_diff_points"],
                 f"|Δ| ≤ {t['frozen_acc_diff_max_points']:g}",
                 abs(r["frozen_acc_diff_points"]) <= t["frozen_acc_diff_max_points"] + 1e-9, "{:+.2f}"),
        _verdict("fine-tune epoch / ceiling epoch (interleaved, median; both incl. val)", r["finetune_epoch_over_ceiling"],
                 f"{t['finetune_epoch_ratio_min']:g} to {t['finetune_epoch_ratio_max']:g}",
                 t["finetune_epoch_ratio_min"] <= r["finetune_epoch_over_ceiling"] <= t["finetune_epoch_ratio_max"],
                 "{:.3f}"),
    ]
    if r["launcher_local_over_inline"] is not None:
        verdicts.append({"what": "4-cell matrix wall, --launcher local --jobs 2 / inline",
                         "value": r["launcher_local_over_inline"], "shown": f"{r['launcher_local_over_inline']:.2f}",
                         "target": "(recorded; < 1 is faster)", "status": "INFO"})
    if "finetune_seeds" in out:
        ss = _seed_summary(out["finetune_seeds"], (rg["finetune"]["test_accuracy"], bl["finetune"]["test_accuracy"]))
        out["finetune_seeds"]["summary"] = ss
        r["finetune_acc_diff_points_mean_over_seeds"] = ss["diff_points"]
        verdicts.append({"what": f"fine-tune test accuracy, reportgen − baseline, mean of {ss['n_seeds']} seeds (points)",
                         "value": ss["diff_points"],
                         "shown": f"{ss['diff_points']:+.1f} (95% CI {ss['diff_ci95'][0]:+.1f} to {ss['diff_ci95'][1]:+.1f})",
                         "target": "CI contains 0 (same learning, within seed noise)",
                         "status": "PASS" if ss["within_noise"] else "MISS"})
    demo = out.get("demo")
    if demo and "wall_s" in demo:
        r["demo_wall_s"] = demo["wall_s"]
        verdicts.append(_verdict("demo matrix wall time (s)", demo["wall_s"], f"≤ {t['demo_wall_max_s']:g}",
                                 demo["wall_s"] <= t["demo_wall_max_s"], "{:.0f}"))
    gpu = out.get("gpu", {})
    for g in gpu.get("throughput", []):
        verdicts.append(_verdict(f"GPU {g['backbone']} images/s fraction of ceiling", g["fraction_of_ceiling"],
                                 f"≥ {t['gpu_fraction_of_ceiling_min']:g}",
                                 g["fraction_of_ceiling"] >= t["gpu_fraction_of_ceiling_min"], "{:.2f}"))
    if "hw4" in gpu and "wall_s" in gpu["hw4"]:
        verdicts.append({"what": "hw4 matrix wall time (s)", "value": gpu["hw4"]["wall_s"],
                         "shown": f"{gpu['hw4']['wall_s']:.0f}", "target": "(recorded)", "status": "INFO"})
    return r, verdicts


def _verdict(what: str, value: float, target: str, ok: bool, fmt: str) -> dict[str, Any]:
    return {"what": what, "value": value, "shown": fmt.format(value), "target": target,
            "status": "PASS" if ok else "MISS"}


# --------------------------------------------------------------------------- output
def format_table(out: dict[str, Any]) -> str:
    """The human-readable summary (Markdown), the same text as bench.md."""
    s, rg, bl, ce, m = out["settings"], out["reportgen"], out["baseline"], out["ceiling"], out["machine"]
    n = out["data"]["n"]
    lines = [
        "# reportgen bench",
        "",
        (f"{m['device_name']} · {m['cpus_usable']} CPUs · torch {m['torch']} ({m['torch_threads']} threads) · "
        f"load average {out['load_average_start'][0]:.2f} at start, {out['load_average_end'][0]:.2f} at end"),
        (f"{s['backbone']} ({s['weights']}) at {s['size']} px, batch {s['batch_size']}, fine-tune {s['epochs']} "
        f"epoch(s), frozen {s['frozen_epochs']} epoch(s); images: {n['train']} train / {n['val']} val / "
        f"{n['test']} test from {Path(out['data']['source']).name}"),
        "",
        "| target | measured | goal | status |",
        "|---|---|---|---|",
        *[f"| {v['what']} | {v['shown']} | {v['target']} | {v['status']} |" for v in out["verdicts"]],
        "",
        "| timing | wall s | CPU s | test acc |",
        "|---|---|---|---|",
        f"| reportgen decode (cold cache, once) | {rg['decode']['wall_s']:.2f} | {rg['decode']['cpu_s']:.2f} | |",
        (f"| reportgen frozen cell ({rg['frozen']['frozen_mode']}) | {rg['frozen']['wall_s']:.2f} | | "
        f"{rg['frozen']['test_accuracy']:.4f} |"),
        (f"| baseline frozen loop | {bl['frozen']['wall_s']:.2f} | {bl['frozen']['cpu_s']:.2f} | "
        f"{bl['frozen']['test_accuracy']:.4f} |"),
        f"| reportgen fine-tune cell | {rg['finetune']['wall_s']:.2f} | | {rg['finetune']['test_accuracy']:.4f} |",
        (f"| baseline fine-tune loop | {bl['finetune']['wall_s']:.2f} | {bl['finetune']['cpu_s']:.2f} | "
        f"{bl['finetune']['test_accuracy']:.4f} |"),
        "",
        "| fine-tune epoch, incl. val | fastest s | mean s | epochs s |",
        "|---|---|---|---|",
        *[f"| {name} | {r['epoch_min_s']:.2f} | {r['epoch_mean_s']:.2f} | {' '.join(f'{e:.1f}' for e in r['epoch_s'])} |"
          for name, r in (("reportgen fit (interleaved)", out["reportgen_fit"]), ("ceiling (interleaved)", ce),
                          ("reportgen cell (runner)", rg["finetune"]), ("baseline", bl["finetune"]))],
        "",
        (f"Ceiling: {ce['images_per_s']:.1f} training images/s (train part {min(ce['train_epoch_s']):.2f} s, "
         f"val part {min(ce['val_epoch_s']):.2f} s). Warm-up paid before timing: {out['warm_up']['wall_s']:.1f} s. "
         "Frozen speedup without the decode: "
        f"{out['ratios']['frozen_speedup_without_decode']:.1f}×. "
        f"Fine-tune cell speedup vs baseline: {out['ratios']['finetune_cell_speedup']:.2f}×."),
        (f"Memory: peak RSS {out['peak_rss_mb']:.0f} MiB (child processes {out['peak_rss_children_mb']:.0f} MiB); "
        f"decode grew anonymous RSS by {rg['decode']['rss_anon_delta_mb'] or 0:.1f} MiB for a "
        f"{rg['decode']['cache_mb']:.1f} MiB memory-mapped cache ({out['data']['file_bytes'] / 2**20:.1f} MiB of "
        "image files)."),
    ]
    ss = (out.get("finetune_seeds") or {}).get("summary")
    if ss:
        lines.append(f"Fine-tune test accuracy over {ss['n_seeds']} seeds: reportgen {ss['reportgen_mean']:.1f} ± "
                     f"{ss['reportgen_sd']:.1f} % ({', '.join(f'{a:.1f}' for a in ss['reportgen_acc'])}), baseline "
                     f"{ss['baseline_mean']:.1f} ± {ss['baseline_sd']:.1f} % "
                     f"({', '.join(f'{a:.1f}' for a in ss['baseline_acc'])}).")
    demo = out.get("demo")
    if demo:
        lines.append(f"Demo matrix: {demo['wall_s']:.0f} s wall, {demo['cpu_s']:.0f} s CPU, {demo['cells']} cells."
                     if "wall_s" in demo else f"Demo matrix: skipped ({demo['skipped']}).")
    gpu = out["gpu"]
    if not gpu["available"]:
        lines.append(f"GPU: {gpu['note']}.")
    else:
        for g in gpu["throughput"]:
            lines.append(f"GPU {g['backbone']} @ {g['size']} px: reportgen {g['reportgen_images_per_s']:.0f} img/s, "
                         f"ceiling {g['ceiling_images_per_s']:.0f} img/s ({g['fraction_of_ceiling']:.2f}).")
        if "hw4" in gpu:
            h = gpu["hw4"]
            lines.append(f"hw4 matrix: {h['wall_s']:.0f} s wall." if "wall_s" in h else f"hw4: skipped ({h['skipped']}).")
    lines += _scale_lines(out["scale"])
    return "\n".join(lines) + "\n"


def _scale_lines(sc: dict[str, Any]) -> list[str]:
    p, la, pr = sc["pipeline"], sc["launcher"], sc["hw4_projection"]
    rg, seeds = p["reportgen"], p["seeds_loop"]["flips"]
    lines = ["", (f"## Input pipeline alone: normalized, augmented {p['size']} px batches of {p['batch_size']} "
                  f"({p['n_images']} images, {p['cpus']} CPUs, {p['device']})"), "",
             "| pipeline | images/s |", "|---|---|",
             f"| reportgen decode-once cache, flips | {rg['flips']['images_per_s']:.0f} |",
             f"| reportgen decode-once cache, medical | {rg['medical']['images_per_s']:.0f} |",
             (f"| seeds' ImageFolder + PIL + DataLoader ({seeds['num_workers']} workers), flips | "
              f"{seeds['images_per_s']:.0f} |"),
             f"| (one-time cold decode into the cache) | {p['decode']['images_per_s']:.0f} |", "",
             "| what one GPU consumes in training (timm, published) | img/s | reportgen covers | seeds' loop covers |",
             "|---|---|---|---|"]
    for name, m in p["gpu_appetite"]["models"].items():
        label = name + (f" (for {m['stands_in_for']})" if "stands_in_for" in m else "") + f" @ {m['img_size']} px"
        lines.append(f"| {label} | {m['images_per_s']:.0f} | {m['reportgen_fraction']:.2f}× | "
                     f"{m['seeds_loop_fraction']:.2f}× |")
    lines += [f"Source: {p['gpu_appetite']['source']} ({p['gpu_appetite']['url']}).", ""]
    if "skipped" in la:
        lines.append(f"Launcher: skipped ({la['skipped']}).")
    else:
        ratio = la["local_over_inline"]
        lines.append(f"Launcher: 4 cells inline {la['inline']['wall_s']:.1f} s, --launcher local --jobs {la['jobs']} "
                     f"{la['local']['wall_s']:.1f} s → ratio " + (f"{ratio:.2f}" if ratio is not None else
                                                                 "n/a (a run failed)") + ".")
    lines += ["", f"## hw4 matrix — {pr['kind']}", "",
              "| cells | this device | 1 GPU | 8 GPUs |", "|---|---|---|---|",
              (f"| 2 backbones × 3 strategies × {pr['matrix']['epochs']} epochs, {pr['matrix']['size']} px | "
               f"{pr['this_device_s'] / 3600:.1f} h | {pr['gpus']['1'] / 60:.1f} min | "
               f"{pr['gpus']['8'] / 60:.1f} min |"),
              "", *[f"- {a}" for a in pr["assumptions"]],
              *[f"- {b}: GPU rate {r['train_images_per_s']:.0f} train img/s ({r['from']})"
                for b, r in pr["gpu_rates"].items()]]
    return lines


def write_outputs(out: dict[str, Any], dest: Path) -> tuple[Path, Path]:
    dest.mkdir(parents=True, exist_ok=True)
    js, md = dest / "bench.json", dest / "bench.md"
    js.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    md.write_text(format_table(out), encoding="utf-8")
    return js, md


# --------------------------------------------------------------------------- command
@click.command("bench")
@click.option("--size", type=click.IntRange(min=8), default=None,
              help="Input size in px (default 64 on CPU, 224 on CUDA).")
@click.option("--backbone", default="efficientnet_lite0", show_default=True,
              help="Backbone for (a)/(b)/(c); Lite models use their offline ImageNet weights, others random init.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Fine-tune epochs (default 3).")
@click.option("--frozen-epochs", type=click.IntRange(min=1), default=None,
              help="Frozen-cell epochs (default 30, as in experiments/demo.toml).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Batch size (default 64).")
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--images", "n_images", type=click.IntRange(min=12), default=None,
              help="Use a stratified subset of this many images (default all 624).")
@click.option("--baseline-workers", type=click.IntRange(min=0), default=None,
              help="DataLoader workers of the baseline (default 0 on CPU, where workers compete with torch for 2 cores; 4 on CUDA).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:1 or auto.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=ROOT / "bench" / "out",
              help="Where bench.json and bench.md go (default bench/out).")
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="Also time the whole demo matrix (experiments/demo.toml) from an empty cache.")
@click.option("--hw4/--no-hw4", default=True, show_default=True, help="On CUDA, also time experiments/hw4.toml.")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Also fine-tune both loops with seeds 1..N-1 and compare test accuracy over the N seeds "
                   "(accuracy only; a few hundred images and 3 epochs leave seed-to-seed noise of many points).")
@click.option("--launcher/--no-launcher", default=True, show_default=True,
              help="Also time a 4-cell matrix inline vs `reportgen run --launcher local --jobs 2`.")
@click.option("--quick", is_flag=True,
              help="Tiny and fast (for tests): 60 images, 32 px, 1 epoch, no demo, no launcher run.")
def bench(size: int | None, backbone: str, epochs: int | None, frozen_epochs: int | None, batch_size: int | None,
          lr: float, n_images: int | None, baseline_workers: int | None, device: str, out_dir: Path, demo: bool,
          hw4: bool, seeds: int, launcher: bool, quick: bool) -> None:
    """Time reportgen vs a plain DataLoader loop vs the compute ceiling; write bench/out/bench.{json,md}."""
    from reportgen.models.backbones import check_backbone_name
    from reportgen.train.environment import pick_device

    check_backbone_name(backbone)
    dev = str(pick_device(device))
    cuda = dev.startswith("cuda")
    if quick:
        size, epochs, frozen_epochs = size or 32, epochs or 1, frozen_epochs or 2
        batch_size, n_images, demo, hw4 = batch_size or 16, n_images or 60, False, False
    out = run_bench(size=size or (224 if cuda else 64), backbone=backbone, epochs=epochs or 3,
                    frozen_epochs=frozen_epochs or 30, batch_size=batch_size or 64, lr=lr, device=dev,
                    n_images=n_images, baseline_workers=baseline_workers if baseline_workers is not None
                    else (4 if cuda else 0), demo=demo,
                    gpu_backbones=() if quick else ("resnet18", "resnet50"), hw4=hw4, seeds=seeds,
                    launcher=launcher, quick=quick, progress=lambda s: click.echo(f"bench: {s}", err=True))
    out["quick"] = quick
    js, md = write_outputs(out, out_dir)
    click.echo(format_table(out))
    click.echo(f"wrote {js} and {md}")


def main() -> None:
    """``python -m bench`` / ``make bench``: a reportgen user error is one message and exit code 2."""
    from reportgen.errors import ReportgenError

    try:
        bench.main(standalone_mode=False, prog_name="python -m bench")
    except ReportgenError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.Abort:
        raise SystemExit(1) from None
