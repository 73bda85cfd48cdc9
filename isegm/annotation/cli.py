"""Start-up of ``demo.py`` and ``scripts/annotate.py`` without a screen: flags, input checks, model loading.

Every check of user input happens here, before a window opens or a file is written, and fails with an
:class:`isegm.errors.UserError` whose one-line message names the offending value or file; the scripts wrap
their ``main`` in :func:`isegm.errors.run_cli`, which prints ``error: <message>`` and exits with status 2.
"""
import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from isegm.annotation import codec, export, overlap, runtime
from isegm.errors import UserError, float_range, int_range
from isegm.io import read_image

logger = logging.getLogger(__name__)

__all__ = ["ArgumentParser", "demo_parser", "annotate_parser", "DemoSetup", "prepare_demo", "replay",
           "parse_classes", "check_out_dir", "check_outputs_free", "check_session_fits", "check_checkpoint",
           "load_predictor", "load_refiner", "device_of"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises :class:`UserError` (one line, naming the flag and value) instead of printing usage."""

    def error(self, message):
        raise UserError(message.splitlines()[0])


def inference_flag(parser):
    """``--inference fastest|exact`` of the GUIs (demo.py, python -m isegm.web)."""
    parser.add_argument("--inference", choices=("fastest", "exact"), default="fastest",
                        help="fastest (default): BatchNorm folded, channels-last weights and, on CPUs with native "
                             "bf16, bf16 (see isegm.inference.paths); exact: RITM's fp32 numerics. Sessions record "
                             "it and scripts/annotate.py replays on the same path")


def _common_flags(parser):
    device = parser.add_mutually_exclusive_group()
    device.add_argument("--cpu", action="store_true", help="run the model on the CPU")
    device.add_argument("--gpu", type=int_range(0), default=None, metavar="N", help="run the model on CUDA device N")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


def demo_parser():
    """Flags of ``demo.py``."""
    p = ArgumentParser(prog="demo.py", description="Interactive multi-object annotation with click-based "
                                                   "segmentation (RITM lineage).")
    p.add_argument("image", nargs="?", default=None, help="image to open at start")
    p.add_argument("--checkpoint", default=None,
                   help=f"RITM-format model checkpoint (default: {runtime.DEFAULT_CHECKPOINT})")
    _common_flags(p)
    p.add_argument("--limit-longest-size", type=int_range(32), default=800,
                   help="longest side of the network input; larger images are predicted downscaled and the "
                        "masks upscaled back to full resolution (default 800)")
    p.add_argument("--out", default="annotations", help="folder for saved outputs and autosaves")
    p.add_argument("--threshold", type=float_range(0, 1, lo_open=True, hi_open=True), default=0.5,
                   help="initial probability threshold, in (0, 1)")
    p.add_argument("--overlap", choices=overlap.OVERLAP_RULES, default=overlap.DEFAULT_RULE,
                   help="overlap rule: keep_earlier (later objects only claim unclaimed pixels) or later_wins")
    p.add_argument("--classes", default=None,
                   help="comma-separated class labels with fixed category ids 1..K in this order")
    p.add_argument("--refiner-checkpoint", default=None, metavar="PATH",
                   help="a second model, the refiner (e.g. weights/hrnet18s_cocomval_refiner.pth): objects started "
                        "from an external mask are corrected by it while the GUI's refiner switch (R) is on")
    inference_flag(p)
    return p


def annotate_parser():
    """Flags of ``scripts/annotate.py``."""
    p = ArgumentParser(prog="annotate.py", description="Replay recorded clicks headlessly and write the "
                                                       "annotation outputs.")
    p.add_argument("--image", required=True, help="the annotated image")
    p.add_argument("--clicks", required=True, help="saved <name>.json or autosave session json")
    p.add_argument("--checkpoint", required=True, help="RITM-format model checkpoint (.pth)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    _common_flags(p)
    p.add_argument("--name", default=None, help="output file stem (default: the image's stem)")
    p.add_argument("--ignore-image-hash", action="store_true",
                   help="replay even if the image pixels differ from the recorded ones")
    p.add_argument("--refiner-checkpoint", default=None, metavar="PATH",
                   help="the refiner the session was recorded with (its settings.refiner): objects it refined are "
                        "replayed by it; without it they are replayed by --checkpoint, with a warning")
    return p


def parse_classes(text: Optional[str]):
    """``--classes`` text -> list of labels (None when not given).

    Raises:
        UserError: empty list, an empty name, or a name given twice.
    """
    if text is None:
        return None
    names = [c.strip() for c in text.split(",")]
    if not any(names):
        raise UserError(f"--classes {text!r} names no class; give comma-separated labels, e.g. --classes cat,dog")
    if not all(names):
        raise UserError(f"--classes {text!r} has an empty name; give comma-separated labels, e.g. cat,dog")
    seen = set()
    for n in names:
        if n in seen:
            raise UserError(f"--classes {text!r} names {n!r} twice; each class once")
        seen.add(n)
    return names


def check_out_dir(out_dir) -> Path:
    """``out_dir`` as a Path. Raises UserError when it exists and is not a folder."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file, expected a folder")
    return out_dir


def check_outputs_free(out_dir, stem, overwrite):
    """Raise UserError when some output of image stem ``stem`` exists in ``out_dir`` and not ``overwrite``."""
    if overwrite:
        return
    existing = [p.name for p in export.output_paths(out_dir, stem).values() if p.exists()]
    if existing:
        raise UserError(f"outputs exist in {out_dir} ({', '.join(existing[:3])}{', ...' if len(existing) > 3 else ''})"
                        "; pass --overwrite to replace them or choose another --out")


def _read_image(path, flag="image"):
    path = Path(path)
    if not path.exists():
        raise UserError(f"{flag} {path}: no such file")
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder, expected an image file")
    try:
        return read_image(path)
    except ValueError as exc:
        raise UserError(f"{flag} {path}: {exc}") from None


def check_checkpoint(path_text, flag="--checkpoint"):
    """The checkpoint file of ``--checkpoint`` (default :data:`isegm.annotation.runtime.DEFAULT_CHECKPOINT`) or of
    another checkpoint ``flag`` (which has no default: ``path_text`` is given).

    Raises:
        FileNotFoundError: no such file (named, with the flag); UserError: an empty file.
    """
    if flag == "--checkpoint":
        path = runtime.resolve_checkpoint(path_text)  # FileNotFoundError naming the path and --checkpoint
    else:
        try:
            path = runtime.resolve_checkpoint(path_text)
        except FileNotFoundError:
            raise FileNotFoundError(f"{flag} {path_text}: no such checkpoint file") from None
    if path.stat().st_size == 0:
        raise UserError(f"{flag} {path} is empty, expected a RITM-format .pth file")
    return path


def load_predictor(checkpoint, device, params, flag="--checkpoint", inference=None):
    """Load the network of a RITM-format checkpoint and build one predictor for it, as the demo, the replay
    script and the web view do (:func:`isegm.annotation.runtime.load_net`, then
    :func:`isegm.annotation.runtime.build_predictor`).

    Args:
        checkpoint: path of the ``.pth`` file. device: ``torch.device``. params: plain-data predictor parameters
            (:func:`isegm.annotation.runtime.default_predictor_params`, or those recorded in a session).
        inference: the :class:`~isegm.inference.paths.InferencePath` (None: exact).
    Returns:
        (net in eval mode, predictor).
    Raises:
        UserError: the file is not a loadable checkpoint (text, truncated, another format: the loader's error
            is named), or the parameters do not build a predictor for it.
    """
    # torch.load of a text or truncated file raises whatever its unpickler meets (IndexError, EOFError,
    # UnpicklingError, RuntimeError, ...): any failure to load the user's file is reported as bad input.
    try:
        net = runtime.load_net(checkpoint, device, inference)
    except Exception as exc:  # noqa: BLE001 - see above
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UserError(f"cannot load model from {flag} {checkpoint}: not a readable RITM-format "
                        f"checkpoint ({type(exc).__name__}{': ' + text[:160] if text else ''})") from None
    try:
        return net, runtime.build_predictor(net, device, params)
    except (ValueError, NotImplementedError, TypeError) as exc:
        raise UserError(f"cannot build a predictor for {flag} {checkpoint}: {exc}") from None


def load_refiner(checkpoint, device, params, flag="--refiner-checkpoint", inference=None, settings=None):
    """Load the refiner of ``--refiner-checkpoint`` (already checked by :func:`check_checkpoint` with that flag)
    as :func:`load_predictor` does, and check it has a previous-mask input (where a refiner takes the external
    mask); when ``settings`` (a session's settings dict) is given, record it there as ``settings["refiner"]``
    (name, sha256: what a replay compares). Used by ``demo.py``, ``scripts/annotate.py`` and ``python -m isegm.web``.

    Returns:
        (net in eval mode, predictor).
    Raises:
        UserError: not a loadable checkpoint, no predictor for it, or a network without a previous-mask input.
    """
    net, predictor = load_predictor(checkpoint, device, params, flag, inference)
    if not getattr(net, "with_prev_mask", False):
        raise UserError(f"{flag} {checkpoint}: {type(net).__name__} has no previous-mask input; a refiner takes "
                        f"the external mask there (use an *_itermask or refiner model)")
    if settings is not None:
        settings["refiner"] = runtime.session_settings(checkpoint, device, params)["checkpoint"]
    return net, predictor


def device_of(args):
    """The ``torch.device`` of the ``--cpu`` / ``--gpu N`` flags (``args.cpu``, ``args.gpu``).

    Raises:
        UserError: the requested device is not available (see :func:`isegm.annotation.runtime.resolve_device`).
    """
    try:
        return runtime.resolve_device(cpu=args.cpu, gpu=args.gpu)
    except RuntimeError as exc:
        raise UserError(str(exc)) from None


def check_session_fits(session, shape):
    """Check every object record of a loaded session against an image of ``shape`` (H, W), without a model.

    Raises:
        UserError: a click missing a key, not whole pixels, or outside the image; a malformed box or refiner flag
            (the message names the file, the object and the click).
    """
    where = session.get("where", "session")
    h, w = shape
    records = [(f"object {r.get('id')}" if isinstance(r, dict) else "object", r) for r in session.get("objects") or []]
    if session.get("current"):
        records.append(("unfinished object", session["current"]))
    for name, rec in records:
        here = f"{where}: {name}"
        if not isinstance(rec, dict):
            raise UserError(f"{here}: expected an object record, got {rec!r:.60}")
        try:
            clicks = codec.clicks_from_json(rec.get("clicks"), here)
            codec.box_from_json(rec.get("restrict_box"), here)
            codec.refined_from_json(rec, here)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        for c in clicks:
            if not (0 <= c.y < h and 0 <= c.x < w):
                raise UserError(f"{here} click {c.index + 1}: (y={c.y}, x={c.x}) is outside the {w}x{h} image")


@dataclass
class DemoSetup:
    """Everything the Tk view needs, built by :func:`prepare_demo`."""
    controller: object
    out_dir: Path
    image_path: Optional[Path]
    overwrite: bool
    model_info: dict = field(default_factory=dict)


def prepare_demo(argv=None, load_model=True) -> DemoSetup:
    """Parse ``demo.py`` flags, check every input, load the model and build the session (no window).

    Args:
        argv: the flags. load_model: False stops after the input checks (returns a setup without controller).
    Raises:
        UserError / FileNotFoundError: bad input, named in the one-line message.
    """
    from isegm.annotation.session import AnnotationSession

    args = demo_parser().parse_args(argv)
    classes = parse_classes(args.classes)
    out_dir = check_out_dir(args.out)
    image_path = None
    if args.image is not None:
        image_path = Path(args.image)
        _read_image(image_path)
        check_outputs_free(out_dir, image_path.stem, args.overwrite)
    checkpoint = check_checkpoint(args.checkpoint)
    refiner_checkpoint = None
    if args.refiner_checkpoint is not None:
        refiner_checkpoint = check_checkpoint(args.refiner_checkpoint, "--refiner-checkpoint")
    device = device_of(args)
    params = runtime.default_predictor_params(args.limit_longest_size)
    setup = DemoSetup(controller=None, out_dir=out_dir, image_path=image_path, overwrite=args.overwrite)
    if not load_model:
        return setup
    runtime.make_deterministic()
    inference = runtime.inference_path(args.inference, device)
    net, predictor = load_predictor(checkpoint, device, params, inference=inference)
    settings = runtime.session_settings(checkpoint, device, params, inference=inference)
    refiner = None
    if refiner_checkpoint is not None:
        _refiner_net, refiner = load_refiner(refiner_checkpoint, device, params, inference=inference,
                                             settings=settings)
    setup.controller = AnnotationSession(predictor, threshold=args.threshold, overlap_rule=args.overlap,
                                         settings=settings, class_names=classes, refiner=refiner)
    setup.model_info = {"checkpoint": checkpoint.name, "device": str(device),
                        "inference": "onnx" if runtime.is_onnx(checkpoint) else "+".join(inference.tags) or "exact",
                        "with_prev_mask": bool(getattr(net, "with_prev_mask", False))}
    if refiner_checkpoint is not None:
        setup.model_info["refiner"] = refiner_checkpoint.name
    return setup


def replay(argv=None):
    """``scripts/annotate.py``: check the inputs, replay the recorded clicks and write the outputs.

    Returns:
        dict kind -> Path of the written files.
    Raises:
        UserError / FileNotFoundError / FileExistsError: bad input, named in the one-line message; nothing is
        written then.
    """
    from isegm.annotation.session import AnnotationSession

    args = annotate_parser().parse_args(argv)
    image_path = Path(args.image)
    image = _read_image(image_path, "--image")
    try:
        session = codec.load_session(args.clicks)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    check_session_fits(session, image.shape[:2])
    out_dir = check_out_dir(args.out)
    check_outputs_free(out_dir, args.name or image_path.stem, args.overwrite)
    checkpoint = check_checkpoint(args.checkpoint)
    refiner_checkpoint = None
    if args.refiner_checkpoint is not None:
        refiner_checkpoint = check_checkpoint(args.refiner_checkpoint, "--refiner-checkpoint")
    device = device_of(args)
    settings = dict(session.get("settings") or {})
    predictor_params = settings.get("predictor") or runtime.default_predictor_params()
    try:
        inference = runtime.recorded_inference(settings, str(args.clicks))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    runtime.make_deterministic()
    runtime.apply_recorded_runtime(settings, device)
    _net, predictor = load_predictor(checkpoint, device, predictor_params, inference=inference)
    live_settings = runtime.session_settings(checkpoint, device, predictor_params, inference=inference)
    refiner = None
    if refiner_checkpoint is not None:
        _refiner_net, refiner = load_refiner(refiner_checkpoint, device, predictor_params, inference=inference,
                                             settings=live_settings)
    try:
        controller = AnnotationSession(predictor, threshold=session.get("threshold", 0.5),
                                       overlap_rule=session.get("overlap_rule", overlap.DEFAULT_RULE),
                                       settings=live_settings, refiner=refiner)
        controller.set_image(image, image_path.name)
        for note in controller.restore(session, check_image=not args.ignore_image_hash):
            logger.warning("%s", note)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if controller.has_current():
        logger.warning("the session has an unfinished object; it is not written (finish it in the demo)")
    return controller.save(out_dir, overwrite=args.overwrite, name=args.name)
