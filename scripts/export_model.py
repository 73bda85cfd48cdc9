#!/usr/bin/env python3
"""Export a click-model checkpoint for deployment: ONNX (fp32 or int8) or TorchScript.

    python scripts/export_model.py --checkpoint weights/hrnet18s_cocomval_itermask.pth --format onnx \\
        --output hrnet18s.onnx
    python scripts/export_model.py --checkpoint weights/hrnet18s_cocomval_itermask.pth --format onnx \\
        --int8 --calib-images 16 --output hrnet18s_int8.onnx
    python scripts/export_model.py --checkpoint weights/hrnet18s_cocomval_itermask.pth --format torchscript \\
        --output hrnet18s.pt

Graph: (image (B,3,H,W) in [0,1], prev_mask (B,1,H,W), points (B,2N,3)) -> logits (B,1,H,W), B/H/W/N
dynamic, BatchNorm folded (see :mod:`isegm.model.export`). Run it with
``scripts/evaluate_model.py NoBRS --backend onnx --checkpoint FILE.onnx`` (or ``--backend torchscript``).
int8: onnxruntime static QDQ quantisation, calibrated on the network inputs of the NoC protocol (RITM
cvpr zoom-in + flip, 3 clicks per image) on the first N images of the COCO_MVal part that train.py holds
out (seed 0, 10 %), never on a test set. Output written atomically. Bad input: one ``error:`` line, exit 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from isegm.errors import OneLineArgumentParser, UserError, float_range, int_range, run_cli  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    from isegm.model.export import EXPORT_FORMATS

    p = OneLineArgumentParser(description="Export a click model to ONNX (fp32 / int8) or TorchScript.")
    p.add_argument("--checkpoint", required=True, help="isegm / RITM checkpoint (.pth)")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--output", required=True, help="file to write (.onnx / .pt)")
    p.add_argument("--dynamo", action="store_true", help="ONNX: torch.export-based exporter (default: legacy, faster)")
    p.add_argument("--int8", action="store_true", help="ONNX: static int8 QDQ quantisation")
    p.add_argument("--calib-images", type=int_range(1), default=16, help="int8: calibration images (default 16)")
    p.add_argument("--calib-dataset", default="COCO_MVal", help="int8: training dataset to calibrate on")
    p.add_argument("--held-out", type=float_range(0.0, 1.0, lo_open=True, hi_open=True), default=0.1,
                   help="int8: the held-out fraction split off as train.py does (with --seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config-path", default=str(REPO_ROOT / "config.yml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.int8 and args.format != "onnx":
        raise UserError("--int8 needs --format onnx")
    if args.dynamo and args.format != "onnx":
        raise UserError("--dynamo needs --format onnx")
    from isegm.model import load_is_model
    from isegm.model import export

    model = load_is_model(args.checkpoint, device="cpu", eval_mode=True)
    meta = {"isegm.source": Path(args.checkpoint).name}
    if args.format == "torchscript":
        data = export.torchscript_bytes(model, meta)
    else:
        data = export.onnx_bytes(model, dynamo=args.dynamo, metadata=meta)
        if args.int8:
            from isegm.config import load_config, parse_overrides
            from isegm.data.registry import dataset_path, get_dataset
            from isegm.inference.predictors import cvpr_predictor_params
            from isegm.inference.calibration import calibration_feeds

            cfg = load_config(args.config_path, parse_overrides(args.overrides))
            _, held_out = get_dataset(args.calib_dataset, dataset_path(cfg, args.calib_dataset)).split(
                args.held_out, seed=args.seed)
            feeds = calibration_feeds(model, held_out, args.calib_images,
                                      predictor_params=cvpr_predictor_params(dataset_name=args.calib_dataset))
            data = export.quantize_onnx_int8(data, feeds)
    path = export.write_export(data, args.output)
    print(f"wrote {path} ({len(data) / 2 ** 20:.1f} MiB, {args.format}{' int8' if args.int8 else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
