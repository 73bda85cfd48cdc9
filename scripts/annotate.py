#!/usr/bin/env python3
"""Replay recorded clicks headlessly and write the annotation outputs.

    python scripts/annotate.py --image IMG --clicks CLICKS.json --checkpoint PATH --out DIR [--overwrite]
                               [--cpu | --gpu N]

CLICKS.json is a ``<name>.json`` written by the demo (or this script), or an autosave session
(``<name>.autosave.json``). Objects are rebuilt by feeding their clicks to the model exactly as the demo did,
with the predictor settings recorded in the json, so with the same checkpoint, device type and torch build
the masks equal the recorded ones bit for bit. Outputs: see docs/annotation.md.
"""
import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from isegm.annotation import runtime  # noqa: E402
from isegm.annotation.controller import AnnotationController, load_session  # noqa: E402
from isegm.io import read_image  # noqa: E402

logger = logging.getLogger("annotate")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True, help="the annotated image")
    parser.add_argument("--clicks", required=True, help="saved <name>.json or autosave session json")
    parser.add_argument("--checkpoint", required=True, help="RITM-format model checkpoint (.pth)")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    device = parser.add_mutually_exclusive_group()
    device.add_argument("--cpu", action="store_true", help="run on the CPU")
    device.add_argument("--gpu", type=int, default=None, metavar="N", help="run on CUDA device N")
    parser.add_argument("--name", default=None, help="output file stem (default: the image's stem)")
    parser.add_argument("--ignore-image-hash", action="store_true",
                        help="replay even if the image pixels differ from the recorded ones")
    return parser.parse_args(argv)


def run(args):
    """Replay and export; returns the dict of written paths. Raises on bad input (see main for messages)."""
    image_path = Path(args.image)
    image = read_image(image_path)
    session = load_session(args.clicks)
    checkpoint = runtime.resolve_checkpoint(args.checkpoint)
    device = runtime.resolve_device(cpu=args.cpu, gpu=args.gpu)
    settings = dict(session.get("settings") or {})
    predictor_params = settings.get("predictor") or runtime.default_predictor_params()
    runtime.make_deterministic()
    runtime.apply_recorded_runtime(settings, device)
    recorded_sha = (settings.get("checkpoint") or {}).get("sha256")
    if recorded_sha and recorded_sha != runtime.file_sha256(checkpoint):
        logger.warning("checkpoint %s differs from the recorded one (%s): masks will differ",
                       checkpoint, (settings.get("checkpoint") or {}).get("name"))
    net = runtime.load_net(checkpoint, device)
    predictor = runtime.build_predictor(net, device, predictor_params)
    new_settings = runtime.session_settings(checkpoint, device, predictor_params)
    controller = AnnotationController(predictor, threshold=session.get("threshold", 0.5),
                                      overlap_rule=session.get("overlap_rule", "keep_earlier"),
                                      settings=new_settings)
    controller.set_image(image, image_path.name)
    controller.restore(session, check_image=not args.ignore_image_hash)
    if controller.has_current():
        logger.warning("the session has an unfinished object; it is not written (finish it in the demo)")
    paths = controller.save(args.out, overwrite=args.overwrite, name=args.name)
    return paths


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        paths = run(args)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError, NotImplementedError) as exc:
        print(f"annotate.py: error: {exc}", file=sys.stderr)
        return 2
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
