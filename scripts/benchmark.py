#!/usr/bin/env python3
"""Speed and memory figures per architecture (a script that prints numbers, never a timed test).

For each architecture it measures, in a fresh subprocess (so peak memory is that architecture's own):
  * ``fwd@400``: one eval-mode forward pass at 1 x 400 x 400 (seconds, median of repeats);
  * ``SPC``: seconds per click of the NoC evaluation predictor (NoBRS, zoom-in, flip averaging,
    RITM's cvpr settings) on real GrabCut images, over the first clicks of each image; with
    ``--spc-modes`` also for other predictor modes (RGB-BRS, DistMap-BRS, f-BRS-A/B/C), with the mean
    number of BRS objective evaluations per click;
  * ``train img/s``: training throughput of ``ISTrainer.batch_forward`` + Adam step (batch 4,
    320 x 480 crops, up to 3 IT-M clicks placed by the clicker rule, the recipe's NFL + aux BCE) on a
    synthetic batch, so the data pipeline is not measured; ``bf16 img/s`` the same
    with ``train.py --amp bf16 --channels-last``;
  * ``peak RSS``: the subprocess's peak resident memory (GiB);
  * with ``--exported`` / ``--precisions``: the same SPC with the NoBRS predictor running an exported ONNX
    (onnxruntime, fp32 or int8) or TorchScript file from ``scripts/export_model.py``, or bf16 autocast.

With ``--original RITM_CHECKOUT`` it instead times this code against the original RITM code (a checkout of
SamsungLabs/ritm_interactive_segmentation that runs here), side by side on one machine: the original's own
``scripts/evaluate_model.py NoBRS`` and ours on the same checkpoint and dataset folder, in alternating runs
(``--rounds``), for each inference path of ``--paths`` (``exact``: RITM's numerics; tags joined by ``+``:
``bf16``, ``bnfold``, ``cl`` as in :mod:`isegm.inference.paths`, ``compile`` for ``--compile``, compiled
before the timed loop; ``fastest``: the GUI default here; or an
``.onnx`` file from ``scripts/export_model.py``). It prints per path the median SPC, its ratio to the
original's, NoC@85/90, the largest per-click IoU difference from the original and how many samples' click
sequences split off, against the targets of issue 13 (fp32: SPC <= 0.6x with identical IoUs; bf16:
SPC <= 0.35x with NoC@90 within 0.05).

Weights are seeded random (speed does not depend on them), or ``--checkpoint``'s. The BRS modes are
the exception: how many L-BFGS evaluations a click takes depends on whether the network already
respects the clicks, so measure them with a trained checkpoint (a random network disobeys every click).

    python scripts/benchmark.py                       # all five RITM reference architectures
    python scripts/benchmark.py --archs hrnet18s_itermask --threads 2 --device cpu
    python scripts/benchmark.py --archs hrnet18s_itermask --checkpoint weights/hrnet18s_cocomval_itermask.pth \
        --spc-modes NoBRS,RGB-BRS,DistMap-BRS,f-BRS-B,f-BRS-C --spc-images 2 --spc-clicks 10 --train-steps 0
    python scripts/benchmark.py --archs hrnet18s_itermask --checkpoint weights/hrnet18s_cocomval_itermask.pth \
        --exported h18s.onnx,h18s_int8.onnx,h18s.pt --precisions bf16 --train-steps 0   # export / precision SPC
    python scripts/benchmark.py --original ../ritm_interactive_segmentation \
        --checkpoint weights/hrnet18s_cocomval_superpixel.pth --dataset GrabCut --threads 2 \
        --paths exact,bnfold+cl,bf16+bnfold+cl,h18s.onnx --rounds 2   # against the original RITM code
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCHS = ["hrnet18s_itermask", "hrnet18_itermask", "hrnet32_itermask", "hrnet18_baseline", "r34_dh128_baseline"]


def _timeit(fn, repeats: int, sync) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(arch: str, device_name: str, threads: int, repeats: int, spc_images: int, spc_clicks: int,
            train_steps: int, grabcut: Path | None, spc_modes=("NoBRS",), checkpoint: str | None = None,
            exported=(), precisions=()) -> dict:
    import numpy as np
    import torch

    from isegm.inference.clicker import Clicker
    from isegm.inference.predictors import get_predictor
    from isegm.model.builders import build_model
    from isegm.model.checkpoint import load_is_model, model_to_config
    from isegm.engine.recipe import Recipe, build_losses
    from isegm.engine.trainer import ISTrainer, TrainerSettings
    from isegm.utils.exp import ExpPaths

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    device = torch.device(device_name)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    # Load through the same path as evaluation (eval mode, NHWC weights on CPU).
    if checkpoint:
        model = load_is_model(checkpoint, device=device)
    else:
        built = build_model(arch)
        model = load_is_model({"config": model_to_config(built), "state_dict": built.state_dict()}, device=device)
        del built
    channels = 4 if model.with_prev_mask else 3
    result = {"arch": arch, "params_M": sum(p.numel() for p in model.parameters()) / 1e6}

    x = torch.rand(1, channels, 400, 400, device=device)
    pts = torch.tensor([[[200.0, 200.0, 0.0], [-1, -1, -1]]], device=device)
    with torch.inference_mode():
        result["fwd400_s"] = _timeit(lambda: model(x, pts), repeats, sync)

    if grabcut is not None and grabcut.is_dir():
        from isegm.data.datasets import get_dataset
        from isegm.inference.predictors.onnx import AutocastNet, OnnxNet, TorchScriptNet
        dataset = get_dataset("GrabCut", grabcut)
        # exported files (--exported) and precisions (--precisions) run the NoBRS predictor with another net
        nets = {mode: model for mode in spc_modes}
        for file in exported:
            nets[f"NoBRS[{Path(file).name}]"] = OnnxNet(file) if file.endswith(".onnx") else TorchScriptNet(file)
        for precision in precisions:
            nets[f"NoBRS[{precision}]"] = AutocastNet(model, device.type) if precision == "bf16" else model
        for mode, net in nets.items():
            predictor = get_predictor(net, mode.split("[")[0], device, **_cvpr_params(arch))
            times, evaluations = [], []
            for i in range(min(spc_images, len(dataset))):
                sample = dataset.get_sample(i)
                gt = sample.gt_mask
                clicker = Clicker(gt_mask=gt, ignore_label=-1)
                predictor.set_input_image(sample.image)
                pred = np.zeros(gt.shape, dtype=bool)
                for _ in range(spc_clicks):
                    clicker.make_next_click(pred)
                    t = time.perf_counter()
                    prob = predictor.get_prediction(clicker)
                    sync()
                    times.append(time.perf_counter() - t)
                    pred = prob > 0.49
                evaluations += getattr(predictor, "evaluations_per_click", [])
            key = "spc_s" if mode == "NoBRS" else f"spc_{mode}_s"
            result[key] = statistics.mean(times)
            result["spc_clicks"] = len(times)
            if evaluations:
                result[f"evals_per_click_{mode}"] = statistics.mean(evaluations)

    if train_steps <= 0:
        result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
        return result

    batch = 4
    gt = torch.zeros(batch, 1, 320, 480, device=device)
    gt[:, :, 80:240, 120:360] = 1.0
    points = torch.full((batch, 48, 3), -1.0, device=device)
    points[:, 0] = torch.tensor([160.0, 240.0, 100.0])
    data = [{"images": torch.rand(3, 320, 480), "points": points[i].cpu(), "instances": gt[i].cpu()}
            for i in range(batch)]

    def throughput(amp: bool) -> float:
        """Training images/s through ISTrainer.batch_forward (IT-M clicks, recipe losses, Adam);
        amp = bf16 autocast + channels_last (train.py --amp bf16 --channels-last)."""
        torch.manual_seed(0)
        settings = TrainerSettings(batch_size=batch, workers=0, lr=1e-4, max_num_next_clicks=3, seed=0,
                                   amp="bf16" if amp else "none", channels_last=amp)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = ISTrainer(build_model(arch), data, None, build_losses(Recipe()), settings,
                                ExpPaths.at(Path(tmp)), device)
            trainer.net.train()
            loader_batch = next(iter(trainer.train_loader))

            def step():
                loss, *_ = trainer.batch_forward(loader_batch)
                trainer.optim.zero_grad(set_to_none=True)
                loss.backward()
                trainer.optim.step()

            step()
            sync()
            t = time.perf_counter()
            for _ in range(train_steps):
                step()
            sync()
            return batch * train_steps / (time.perf_counter() - t)

    result["train_img_per_s"] = throughput(amp=False)
    result["train_img_per_s_bf16"] = throughput(amp=True)
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    if device.type == "cuda":
        result["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    return result


def _cvpr_params(arch: str) -> dict:
    """RITM's `--eval-mode cvpr` predictor settings on GrabCut: zoom-in from the 2nd click to 400 px, flip."""
    from isegm.inference.predictors import cvpr_predictor_params
    return cvpr_predictor_params(arch)


TARGETS = {"fp32": 0.6, "bf16": 0.35}  # SPC as a fraction of the original's fp32 SPC (issue 13)
_PATH_FLAGS = {"bf16": ["--precision", "bf16"], "bnfold": ["--fold-bn"], "cl": ["--channels-last"],
               "compile": ["--compile"]}


def _path_flags(path: str, device: str) -> list:
    """evaluate_model.py flags of one ``--paths`` entry (see the module docstring).

    Raises:
        SystemExit: an unknown tag or a missing .onnx file (one line)."""
    if path.lower().endswith(".onnx"):
        if not Path(path).is_file():
            raise SystemExit(f"error: --paths {path}: no such ONNX file (make one with scripts/export_model.py)")
        return ["--backend", "onnx"]
    if path == "exact":
        return []
    if path == "fastest":
        from isegm.inference.paths import fastest_path

        tags = fastest_path(device).tags
    else:
        tags = path.split("+")
    bad = [t for t in tags if t not in _PATH_FLAGS]
    if bad:
        raise SystemExit(f"error: --paths {path}: unknown tag {bad[0]!r}; expected exact, fastest, an .onnx file "
                         f"or tags {'+'.join(_PATH_FLAGS)}")
    return [flag for t in tags for flag in _PATH_FLAGS[t]]


def _table_row(text: str, dataset: str) -> dict:
    """NoC@85/90 and SPC from the results table an evaluate_model.py printed (RITM's and ours share the first
    nine columns: mode, dataset, NoC@80/85/90, NoF@85/90, SPC, time)."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 9 and cells[1].lower() == dataset.lower():
            return {"noc85": float(cells[3]), "noc90": float(cells[4]), "spc_s": float(cells[7])}
    raise RuntimeError(f"no {dataset} row in the output:\n{text[-1500:]}")


def _original_ious(folder: Path) -> list:
    """The per-click IoUs the original wrote with --save-ious (a pickle of NumPy arrays; only NumPy classes are
    let through)."""
    import pickle

    import numpy as np

    class _NumpyOnly(pickle.Unpickler):
        def find_class(self, module, name):
            if module.split(".")[0] == "numpy":
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"refusing {module}.{name} in {folder}")

    (path,) = list(folder.rglob("ious/*.pkl"))
    with open(path, "rb") as f:
        return [np.asarray(a, dtype=np.float64) for a in _NumpyOnly(f).load()]


def _our_ious(folder: Path) -> list:
    import numpy as np

    path = min(folder.rglob("ious/*.npy"), key=lambda f: len(f.name))  # <stem>.npy, not <stem>_<metric>.npy
    return [row[~np.isnan(row)].astype(np.float64) for row in np.load(path)]


def versus_original(args) -> dict:
    """Alternating runs of the original's and our evaluate_model.py (see the module docstring); prints the
    comparison and returns it as a dict."""
    import tempfile

    import numpy as np
    import yaml

    original = Path(args.original).resolve()
    script = original / "scripts" / "evaluate_model.py"
    if not script.is_file() or not (original / "config.yml").is_file():
        raise SystemExit(f"error: --original {original}: expected a RITM checkout with scripts/evaluate_model.py "
                         f"and config.yml")
    if not args.checkpoint or not Path(args.checkpoint).is_file():
        raise SystemExit(f"error: --original needs --checkpoint FILE.pth (got {args.checkpoint!r})")
    from isegm.data.registry import resolve

    spec = resolve(args.dataset)
    name = spec.name
    folder = Path(args.dataset_path or REPO.parent / "shared" / "datasets" / name).resolve()
    if not folder.is_dir():
        raise SystemExit(f"error: dataset folder {folder} not found (pass --dataset-path)")
    key = spec.config_key
    device = "cpu" if args.device == "cpu" else "cuda"
    paths = [p for p in args.paths.split(",") if p]
    flags = {p: _path_flags(p, device) for p in paths}
    checkpoint = str(Path(args.checkpoint).resolve())
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    dev = ["--cpu"] if device == "cpu" else ["--gpus", "0"]
    runs = {"original": []} | {p: [] for p in paths}
    ious = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = yaml.safe_load((original / "config.yml").read_text())
        config[key] = str(folder)
        (Path(tmp) / "config.yml").write_text(yaml.safe_dump(config))
        for r in range(args.rounds):
            for label in runs:
                logs = Path(tmp) / f"{label.replace('/', '_')}_{r}"
                if label == "original":
                    cmd = [sys.executable, str(script), "NoBRS", "--checkpoint", checkpoint, "--datasets", name,
                           "--config-path", str(Path(tmp) / "config.yml"), "--logs-path", str(logs),
                           "--save-ious"] + dev
                    cwd = original
                else:
                    target = str(Path(label).resolve()) if label.lower().endswith(".onnx") else checkpoint
                    cmd = [sys.executable, str(REPO / "scripts" / "evaluate_model.py"), "NoBRS", "--checkpoint",
                           target, "--datasets", name, "--dataset-path", f"{name}={folder}", "--logs-path", str(logs),
                           "--save-ious", "--no-progress"] + dev + flags[label]
                    cwd = REPO
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
                if proc.returncode != 0:
                    raise SystemExit(f"error: {label} run failed (rc {proc.returncode}): "
                                     f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
                row = _table_row(proc.stdout, name)
                runs[label].append(row)
                if r == 0:
                    ious[label] = _original_ious(logs) if label == "original" else _our_ious(logs)
                print(f"round {r + 1} {label}: SPC {row['spc_s']:.3f} s, NoC@85/90 {row['noc85']:.2f}/"
                      f"{row['noc90']:.2f}", flush=True)
    base = statistics.median(row["spc_s"] for row in runs["original"])
    ref = ious["original"]
    result = {"dataset": name, "samples": len(ref), "threads": args.threads, "rounds": args.rounds,
              "checkpoint": checkpoint, "paths": {}}
    print(f"\n{name}, {len(ref)} samples, {args.threads} threads, median of {args.rounds} alternating rounds; "
          f"original RITM fp32 SPC {base:.3f} s")
    print(f"{'path':<28}{'SPC s':>8}{'ratio':>8}{'NoC@85':>8}{'NoC@90':>8}{'max dIoU':>10}{'split':>7}  target")
    for label, rows in runs.items():
        spc = statistics.median(row["spc_s"] for row in rows)
        mine = ious[label]
        diffs = [np.abs(a[:min(len(a), len(b))] - b[:min(len(a), len(b))]).max(initial=0.0) for a, b in zip(mine, ref)]
        split = sum(len(a) != len(b) or d > 1e-3 for a, b, d in zip(mine, ref, diffs))
        precision = "bf16" if "bf16" in flags.get(label, []) or (label == "fastest" and "bf16" in flags[label]) \
            else "fp32"
        target = "" if label == "original" else f"<= {TARGETS[precision]}x ({precision})"
        ratio = spc / base
        if target:
            ok = ratio <= TARGETS[precision] and (split == 0 if precision == "fp32" else
                                                  abs(rows[0]["noc90"] - runs["original"][0]["noc90"]) <= 0.05)
            target += " met" if ok else " not met"
        print(f"{label:<28}{spc:>8.3f}{ratio:>8.2f}{rows[0]['noc85']:>8.2f}{rows[0]['noc90']:>8.2f}"
              f"{max(diffs):>10.1e}{split:>7}  {target}")
        result["paths"][label] = {"spc_s": [row["spc_s"] for row in rows], "ratio": ratio,
                                  "noc85": rows[0]["noc85"], "noc90": rows[0]["noc90"],
                                  "max_iou_diff": float(max(diffs)), "samples_split": int(split)}
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", default=",".join(DEFAULT_ARCHS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--spc-images", type=int, default=3, help="GrabCut images for the SPC measurement")
    p.add_argument("--spc-clicks", type=int, default=5, help="clicks per image for the SPC measurement")
    p.add_argument("--train-steps", type=int, default=3, help="0 skips the training measurement")
    p.add_argument("--spc-modes", default="NoBRS", help="comma-separated predictor modes for SPC (e.g. NoBRS,f-BRS-B)")
    p.add_argument("--checkpoint", default=None, help="measure this checkpoint instead of random weights (one arch)")
    p.add_argument("--grabcut", default=str(REPO.parent / "shared" / "datasets" / "GrabCut"))
    p.add_argument("--exported", default="", help="comma-separated .onnx / TorchScript files from "
                   "scripts/export_model.py: SPC of the NoBRS predictor on each (one arch, CPU)")
    p.add_argument("--precisions", default="", help="comma-separated precisions (fp32, bf16) for NoBRS SPC")
    p.add_argument("--json", default=None, help="also write the results to this json file")
    p.add_argument("--original", default=None, metavar="RITM_CHECKOUT",
                   help="time this code against the original RITM code in that checkout (see above)")
    p.add_argument("--paths", default="exact,fastest", help="with --original: inference paths to time")
    p.add_argument("--dataset", default="GrabCut", help="with --original: the dataset (registry name)")
    p.add_argument("--dataset-path", default=None, help="with --original: its folder (default ../shared/datasets)")
    p.add_argument("--rounds", type=int, default=2, help="with --original: alternating rounds")
    p.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._child:
        res = measure(args._child, args.device, args.threads, args.repeats, args.spc_images, args.spc_clicks,
                      args.train_steps, Path(args.grabcut), spc_modes=args.spc_modes.split(","),
                      checkpoint=args.checkpoint, exported=[f for f in args.exported.split(",") if f],
                      precisions=[f for f in args.precisions.split(",") if f])
        print("RESULT " + json.dumps(res))
        return

    import torch
    print(f"torch {torch.__version__}, device {args.device}, threads {args.threads}, "
          f"cpu count {os.cpu_count()}, cpu capability {torch.backends.cpu.get_cpu_capability()}")
    if args.original:
        result = versus_original(args)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
        return
    rows = []
    for arch in args.archs.split(","):
        cmd = [sys.executable, __file__, "--_child", arch, "--device", args.device, "--threads", str(args.threads),
               "--repeats", str(args.repeats), "--spc-images", str(args.spc_images),
               "--spc-clicks", str(args.spc_clicks), "--train-steps", str(args.train_steps), "--grabcut", args.grabcut,
               "--spc-modes", args.spc_modes, "--exported", args.exported, "--precisions", args.precisions] + (
                   ["--checkpoint", args.checkpoint] if args.checkpoint else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not line:
            print(f"{arch}: failed\n{proc.stderr[-2000:]}")
            continue
        rows.append(json.loads(line[-1][7:]))
    header = (f"{'arch':<22}{'params M':>9}{'fwd@400 s':>11}{'SPC s':>8}{'train img/s':>13}{'bf16 img/s':>12}"
              f"{'peak RSS GiB':>14}")
    print(header)
    print("-" * len(header))
    for r in rows:
        spc = f"{r['spc_s']:.3f}" if "spc_s" in r else "n/a"
        train = (f"{r['train_img_per_s']:>13.2f}{r['train_img_per_s_bf16']:>12.2f}" if "train_img_per_s" in r
                 else f"{'-':>13}{'-':>12}")
        print(f"{r['arch']:<22}{r['params_M']:>9.2f}{r['fwd400_s']:>11.3f}{spc:>8}{train}{r['peak_rss_gib']:>14.2f}")
    modes = [m for m in args.spc_modes.split(",") if m != "NoBRS"]
    modes += [f"NoBRS[{Path(f).name}]" for f in args.exported.split(",") if f]
    modes += [f"NoBRS[{p}]" for p in args.precisions.split(",") if p]
    if modes:
        print(f"\nSPC per predictor mode (s; mean BRS objective evaluations per click in brackets), "
              f"{args.spc_clicks} clicks x {args.spc_images} GrabCut images:")
        for r in rows:
            cells = [f"NoBRS {r['spc_s']:.3f}"] if "spc_s" in r else []
            cells += [f"{m} {r[f'spc_{m}_s']:.3f}" + (f" [{r[f'evals_per_click_{m}']:.1f}]"
                                                       if f"evals_per_click_{m}" in r else "")
                      for m in modes if f"spc_{m}_s" in r]
            print(f"{r['arch']:<22}" + "; ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
