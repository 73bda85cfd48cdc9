#!/usr/bin/env python3
"""Convert PaddleClas HRNet_W18_C ImageNet weights (.pdparams, e.g. HRNet_W18_C_ssld_pretrained) into a
torch file for our HRNetV2-W18 backbone, usable through config.yml's IMAGENET_PRETRAINED_MODELS:

    python scripts/convert_paddle_hrnet.py HRNet_W18_C_ssld_pretrained.pdparams \
        pretrained/hrnet_w18_c_ssld_paddle.pth

PaddlePaddle is not needed: the .pdparams pickle is read with an unpickler that admits only NumPy
arrays. Every trunk parameter must be present with the shape our backbone has; PaddleClas's
classification head is dropped. Written atomically; refuses to overwrite unless --overwrite.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from isegm.errors import OneLineArgumentParser, UserError, run_cli  # noqa: E402


def main(argv=None) -> int:
    p = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="PaddleClas HRNet_W18_C .pdparams file")
    p.add_argument("dest", help="torch file to write (.pth)")
    p.add_argument("--width", type=int, default=18, choices=(18, 30, 32, 40, 44, 48, 64),
                   help="HRNet width of the PaddleClas model (HRNet_W<width>_C; default 18)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dest")
    args = p.parse_args(argv)

    from isegm.model.modeling.hrnet_paddle import convert_pdparams_file

    try:
        state = convert_pdparams_file(args.source, args.dest, width=args.width, overwrite=args.overwrite)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    num = sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked"))
    print(f"wrote {args.dest}: {len(state)} tensors ({num / 1e6:.2f} M values) for HRNetV2-W{args.width}; "
          f"use it as IMAGENET_PRETRAINED_MODELS.<NAME> in config.yml")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
