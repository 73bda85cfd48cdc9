"""``python -m isegm.web`` / ``isegm-web``: annotate in the browser, against this machine's model.

    python -m isegm.web --images DIR --out DIR [--checkpoint PATH] [--host 127.0.0.1 --port 8000]
                        [--cpu | --gpu N] [--classes a,b,c] [--threshold 0.5] [--overlap keep_earlier|later_wins]
                        [--limit-longest-size 800] [--overwrite] [--max-upload-mb 32] [--max-sessions 8]
                        [--require-token] [--refiner-checkpoint PATH]

Every input is checked before the model loads and before anything listens: bad input is one line
``error: ...`` on stderr and exit status 2 (:func:`isegm.errors.run_cli`). The model and predictor settings are
the Tk demo's (:mod:`isegm.annotation.runtime`), so the files written replay with ``scripts/annotate.py``.
"""
from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from isegm.annotation import AnnotationSession, OVERLAP_RULES
from isegm.annotation import cli as annotation_cli
from isegm.annotation import runtime
from isegm.errors import UserError, float_range, int_range, run_cli
from isegm.web.paths import IMAGE_SUFFIXES, ImageFolder

logger = logging.getLogger(__name__)

__all__ = ["web_parser", "WebSetup", "prepare_web", "is_loopback", "main", "LOOPBACK_HOSTS"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")  # Host names accepted when bound to a loopback address
DEFAULT_MAX_UPLOAD_MB = 32.0


def _require_web_stack():
    missing = []
    for module in ("fastapi", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UserError(f"the web view needs {' and '.join(missing)}: python3 -m pip install -r requirements.txt")


def web_parser():
    """Flags of ``python -m isegm.web``."""
    p = annotation_cli.ArgumentParser(
        prog="python -m isegm.web",
        description="Annotate the images of a folder in the browser with click-based segmentation (RITM lineage); "
                    "the same session, files and replay as demo.py.")
    p.add_argument("--images", required=True, help="folder of images to annotate (only files directly in it)")
    p.add_argument("--out", required=True, help="folder for outputs and autosaves (the only folder written)")
    p.add_argument("--checkpoint", default=None,
                   help=f"RITM-format model checkpoint (default: {runtime.DEFAULT_CHECKPOINT})")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; any other address requires the printed token)")
    p.add_argument("--port", type=int_range(1, 65535), default=8000, help="port (default 8000)")
    device = p.add_mutually_exclusive_group()
    device.add_argument("--cpu", action="store_true", help="run the model on the CPU")
    device.add_argument("--gpu", type=int_range(0), default=None, metavar="N", help="run the model on CUDA device N")
    p.add_argument("--limit-longest-size", type=int_range(32), default=800,
                   help="longest side of the network input (default 800); masks stay full resolution")
    p.add_argument("--threshold", type=float_range(0, 1, lo_open=True, hi_open=True), default=0.5,
                   help="initial probability threshold, in (0, 1)")
    p.add_argument("--overlap", choices=OVERLAP_RULES, default="keep_earlier",
                   help="overlap rule: keep_earlier (later objects only claim unclaimed pixels) or later_wins")
    p.add_argument("--classes", default=None,
                   help="comma-separated class labels with fixed category ids 1..K in this order")
    p.add_argument("--overwrite", action="store_true", help="Save replaces existing outputs without asking")
    p.add_argument("--max-upload-mb", type=float_range(0, None, lo_open=True), default=DEFAULT_MAX_UPLOAD_MB,
                   help="largest accepted upload (external mask PNG) in MiB (default 32)")
    p.add_argument("--max-sessions", type=int_range(1), default=8,
                   help="open images kept in memory (default 8; older idle ones are closed, their autosave kept)")
    p.add_argument("--require-token", action="store_true",
                   help="require the printed token on a loopback address too (always required on other hosts)")
    p.add_argument("--refiner-checkpoint", default=None, metavar="PATH",
                   help="a second model, the refiner (e.g. weights/hrnet18s_cocomval_refiner.pth): objects started "
                        "from an external mask are corrected by it while the page's refiner switch is on")
    annotation_cli.inference_flag(p)
    return p


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class WebSetup:
    """What :func:`prepare_web` built: the app (None with ``load_model=False``), where it listens, the token."""
    app: object
    host: str
    port: int
    url: str
    token: Optional[str]


def _check_listen(host, port):
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise UserError(f"cannot listen on --host {host} --port {port}: {exc.strerror or exc}") from None


def _url(host, port, token):
    shown = host
    if host in ("0.0.0.0", "::", ""):
        shown = socket.gethostname()
    elif ":" in host and not host.startswith("["):
        shown = f"[{host}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def prepare_web(argv=None, load_model=True) -> WebSetup:
    """Parse the flags, check every input, load the one model and build the app (nothing listens yet).

    Raises:
        UserError / FileNotFoundError: bad input, named in the one-line message.
    """
    args = web_parser().parse_args(argv)
    _require_web_stack()
    classes = annotation_cli.parse_classes(args.classes)
    images = Path(args.images)
    if not images.exists():
        raise UserError(f"--images {images}: no such folder")
    if not images.is_dir():
        raise UserError(f"--images {images} is a file, expected a folder of images")
    if not ImageFolder(images).names():
        raise UserError(f"--images {images} has no image files directly in it ({', '.join(IMAGE_SUFFIXES)})")
    out_dir = annotation_cli.check_out_dir(args.out)
    if out_dir.exists() and out_dir.resolve() == images.resolve():
        raise UserError(f"--out {out_dir} is the --images folder; give a separate folder for the outputs")
    loopback = is_loopback(args.host)
    _check_listen(args.host, args.port)
    checkpoint = annotation_cli.check_checkpoint(args.checkpoint)  # FileNotFoundError naming the path
    refiner_checkpoint = None
    if args.refiner_checkpoint is not None:
        refiner_checkpoint = annotation_cli.check_checkpoint(args.refiner_checkpoint, "--refiner-checkpoint")
    device = annotation_cli.device_of(args)
    params = runtime.default_predictor_params(args.limit_longest_size)
    token = secrets.token_urlsafe(24) if (not loopback or args.require_token) else None
    setup = WebSetup(app=None, host=args.host, port=args.port, url=_url(args.host, args.port, token), token=token)
    if not load_model:
        return setup
    from isegm.web.server import create_app

    runtime.make_deterministic()
    inference = runtime.inference_path(args.inference, device)
    # refuses a bad file before listening
    net, _ = annotation_cli.load_predictor(checkpoint, device, params, inference=inference)
    settings = runtime.session_settings(checkpoint, device, params, inference=inference)
    refiner_net = None
    if refiner_checkpoint is not None:  # the demo's checks (loadable, a previous-mask input), before listening
        refiner_net, _ = annotation_cli.load_refiner(refiner_checkpoint, device, params, inference=inference,
                                                     settings=settings)

    def make_session():
        refiner = None if refiner_net is None else runtime.build_predictor(refiner_net, device, params)
        return AnnotationSession(runtime.build_predictor(net, device, params), threshold=args.threshold,
                                 overlap_rule=args.overlap, settings=settings, class_names=classes, refiner=refiner)

    model_info = {"checkpoint": checkpoint.name, "device": str(device),
                  "inference": "onnx" if runtime.is_onnx(checkpoint) else "+".join(inference.tags) or "exact",
                  "with_prev_mask": bool(getattr(net, "with_prev_mask", False))}
    if refiner_checkpoint is not None:
        model_info["refiner"] = refiner_checkpoint.name
    setup.app = create_app(images, out_dir, make_session, class_names=classes, overwrite=args.overwrite,
                           token=token, allowed_hosts=(*LOOPBACK_HOSTS, args.host.strip("[]")) if loopback else None,
                           max_upload_bytes=int(args.max_upload_mb * 2 ** 20), max_sessions=args.max_sessions,
                           model_info=model_info)
    return setup


def _main(argv):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    setup = prepare_web(argv)
    import uvicorn

    note = "" if setup.token is None else "  (the token in it is required on every request; keep it private)"
    print(f"isegm web annotation: open {setup.url}{note}", flush=True)
    uvicorn.run(setup.app, host=setup.host, port=setup.port, log_level="info")
    return 0


def main(argv=None) -> int:
    """Entry point of ``python -m isegm.web`` and ``isegm-web``; returns the exit status."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
