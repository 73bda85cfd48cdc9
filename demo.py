#!/usr/bin/env python3
"""Interactive multi-object annotation demo (Tk).

    python demo.py [--checkpoint PATH] [--cpu | --gpu N] [--limit-longest-size 800] [--out DIR] [IMAGE]

Without --checkpoint the shipped model weights/hrnet18s_cocomval_itermask.pth is used. Controls and output
formats: docs/annotation.md.
"""
import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from isegm.annotation import runtime  # noqa: E402
from isegm.annotation.controller import OVERLAP_RULES  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Interactive multi-object annotation with click-based "
                                                 "segmentation (RITM lineage).")
    parser.add_argument("image", nargs="?", default=None, help="image to open at start")
    parser.add_argument("--checkpoint", default=None,
                        help=f"RITM-format model checkpoint (default: {runtime.DEFAULT_CHECKPOINT})")
    device = parser.add_mutually_exclusive_group()
    device.add_argument("--cpu", action="store_true", help="run the model on the CPU")
    device.add_argument("--gpu", type=int, default=None, metavar="N", help="run the model on CUDA device N")
    parser.add_argument("--limit-longest-size", type=int, default=800,
                        help="longest side of the network input; larger images are predicted downscaled and the "
                             "masks upscaled back to full resolution (default 800)")
    parser.add_argument("--out", default="annotations", help="folder for saved outputs and autosaves")
    parser.add_argument("--threshold", type=float, default=0.5, help="initial probability threshold")
    parser.add_argument("--overlap", choices=OVERLAP_RULES, default="keep_earlier",
                        help="overlap rule: keep_earlier (later objects only claim unclaimed pixels) or "
                             "later_wins")
    parser.add_argument("--classes", default=None,
                        help="comma-separated class labels with fixed category ids 1..K in this order")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        checkpoint = runtime.resolve_checkpoint(args.checkpoint)
        device = runtime.resolve_device(cpu=args.cpu, gpu=args.gpu)
        params = runtime.default_predictor_params(args.limit_longest_size)
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"demo.py: error: {exc}", file=sys.stderr)
        return 2

    import tkinter as tk

    try:
        root = tk.Tk()
    except tk.TclError as exc:
        print(f"demo.py: error: cannot open a window ({exc}); run it on a desktop or under xvfb-run",
              file=sys.stderr)
        return 2
    root.withdraw()

    from interactive_demo.app import AnnotationApp
    from isegm.annotation.controller import AnnotationController

    runtime.make_deterministic()
    try:
        net = runtime.load_net(checkpoint, device)
        predictor = runtime.build_predictor(net, device, params)
    except (ValueError, KeyError, RuntimeError, NotImplementedError) as exc:
        root.destroy()
        print(f"demo.py: error: cannot load model from {checkpoint}: {exc}", file=sys.stderr)
        return 2
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    try:
        controller = AnnotationController(predictor, threshold=args.threshold, overlap_rule=args.overlap,
                                          settings=runtime.session_settings(checkpoint, device, params),
                                          class_names=classes)
    except ValueError as exc:
        root.destroy()
        print(f"demo.py: error: {exc}", file=sys.stderr)
        return 2
    root.minsize(900, 560)
    app = AnnotationApp(root, controller, out_dir=args.out,
                        model_info={"checkpoint": checkpoint.name, "device": str(device),
                                    "with_prev_mask": bool(getattr(net, "with_prev_mask", False))})
    root.deiconify()
    if args.image:
        root.after(100, lambda: app.load_image(args.image))
    root.mainloop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
