"""Exported click models (ONNX through onnxruntime, TorchScript) behind the NoBRS predictor interface.

:class:`OnnxNet` / :class:`TorchScriptNet` look like an ISModel to
:class:`~isegm.inference.predictors.base.BasePredictor`: ``net(image, points) -> {'instances': logits}``
with ``with_prev_mask``. So the predictor's zoom-in, flip averaging, click packing and previous-mask
handling are the NoBRS predictor's own; only the network call differs (:class:`OnnxPredictor`).
Files come from :mod:`isegm.model.export` (``scripts/export_model.py``); other files are refused.
BRS modes need the PyTorch model (gradients), so they refuse these nets (``BRSModelError``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from isegm.errors import UserError
from isegm.inference.predictors.base import BasePredictor
from isegm.inference.transforms import ZoomIn
from isegm.model.export import FORMAT_KEY, FORMAT_VALUE, OUTPUT_NAME, ExportError

BACKENDS = ("torch", "onnx", "torchscript")


def _split(image: torch.Tensor, with_prev_mask: bool):
    if with_prev_mask:
        return image[:, :3], image[:, 3:4]
    return image, torch.zeros_like(image[:, :1])


class OnnxNet:
    """An exported ONNX click model run by onnxruntime on the CPU.

    Args:
        path: ``.onnx`` file written by :func:`isegm.model.export.onnx_bytes` (fp32 or int8).
        num_threads: onnxruntime intra-op threads (None = torch's current thread count).

    Call: ``net(image (B, 3|4, H, W) float32 tensor, points (B, 2N, 3) float32 tensor)`` ->
    ``{'instances': (B, 1, H, W) float32 logits}`` (tensors on the CPU).

    Raises:
        FileNotFoundError: no such file.
        ExportError (a UserError): not an ONNX file, or an ONNX file without isegm's format tag.
    """

    backend = "onnx"

    def __init__(self, path, num_threads: Optional[int] = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserError("the ONNX backend needs onnxruntime: pip install -e '.[export]'") from None

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(num_threads or torch.get_num_threads())
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are its own types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportError(f"{path}: not a loadable ONNX model ({first[:200]})") from None
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        if self.metadata.get(FORMAT_KEY) != FORMAT_VALUE:
            raise ExportError(f"{path}: an ONNX model without isegm's '{FORMAT_KEY}' tag; export one with "
                              f"scripts/export_model.py --format onnx")
        self.path = path
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.with_prev_mask = self.metadata.get("isegm.with_prev_mask") == "true"
        self.quantization = self.metadata.get("isegm.quantization", "none")

    def __call__(self, image: torch.Tensor, points: torch.Tensor) -> dict:
        rgb, prev = _split(image, self.with_prev_mask)
        arrays = {"image": rgb, "prev_mask": prev, "points": points}
        feeds = {name: np.ascontiguousarray(arrays[name].detach().cpu().float().numpy()) for name in self.input_names}
        (logits,) = self.session.run([OUTPUT_NAME], feeds)
        return {"instances": torch.from_numpy(logits)}


class TorchScriptNet:
    """A TorchScript click model from :func:`isegm.model.export.torchscript_bytes` (same call as :class:`OnnxNet`).

    Raises:
        FileNotFoundError: no such file.
        ExportError (a UserError): not TorchScript, or TorchScript without isegm's ``isegm.json`` tag.
    """

    backend = "torchscript"

    def __init__(self, path, device="cpu"):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"TorchScript model not found: {path}")
        extra = {"isegm.json": ""}
        try:
            self.module = torch.jit.load(str(path), map_location=device, _extra_files=extra).eval()
        except Exception as exc:  # noqa: BLE001 - torch.jit raises RuntimeError and friends
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportError(f"{path}: not a loadable TorchScript model ({first[:200]})") from None
        try:
            self.metadata = json.loads(extra["isegm.json"] or "{}")
        except ValueError:
            self.metadata = {}
        if self.metadata.get(FORMAT_KEY) != FORMAT_VALUE:
            raise ExportError(f"{path}: TorchScript without isegm's '{FORMAT_KEY}' tag; export one with "
                              f"scripts/export_model.py --format torchscript")
        self.path = path
        self.with_prev_mask = self.metadata.get("isegm.with_prev_mask") == "true"

    def __call__(self, image: torch.Tensor, points: torch.Tensor) -> dict:
        rgb, prev = _split(image, self.with_prev_mask)
        return {"instances": self.module(rgb, prev, points)}


class OnnxPredictor(BasePredictor):
    """The NoBRS predictor (:class:`BasePredictor`) running an exported ONNX model with onnxruntime.

    Args:
        path: ``.onnx`` file from ``scripts/export_model.py``; or an :class:`OnnxNet`.
        with_flip, zoom_in, max_size, net_clicks_limit: as :class:`BasePredictor`.

    Raises:
        FileNotFoundError / ExportError: see :class:`OnnxNet`.
    """

    def __init__(self, path, net_clicks_limit: Optional[int] = None, with_flip: bool = False,
                 zoom_in: Optional[ZoomIn] = None, max_size: Optional[int] = None):
        net = path if isinstance(path, OnnxNet) else OnnxNet(path)
        super().__init__(net, "cpu", net_clicks_limit=net_clicks_limit, with_flip=with_flip, zoom_in=zoom_in,
                         max_size=max_size)


PRECISIONS = ("fp32", "bf16")

#: ``torch.compile`` modes of :class:`CompiledNet` ("none" = off). "reduce-overhead" records CUDA graphs on a
#: GPU (one graph per input shape), which removes the per-kernel launch cost that bounds a click on a GPU.
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


class CompiledNet:
    """A torch click model whose backbone and head run through ``torch.compile(mode=..., dynamic=True)``.

    Same call and ``with_prev_mask`` as the wrapped ISModel (NoBRS only: the BRS modes need the model's inner
    methods and refuse this wrapper). ``dynamic=True`` lets one compiled graph serve the zoom-in crops' varying
    (H, W); the first clicks of a run pay the compilation (seconds to minutes). Outputs match the eager model
    to float rounding (inductor reorders reductions), not bit for bit. An ISModel's ``backbone_forward`` (all but
    the click encoding, whose input grows with every click) is compiled in place, other models whole. On the
    CPU, inductor compiles with
    ``freezing`` (weights become constants, convolution weights prepacked for oneDNN, ReLU and adds fused into
    the convolutions). On the 2-core AVX-512 CPU HRNet18s' flip-pair forward at fixed shapes took 0.65-0.9x the
    eager bf16 time, but the dynamic-shape graph ran 0.93-1.18x per crop size and over full GrabCut a click took
    0.205 s against 0.139 s eager (README, "Speed and memory").

    Args:
        net: the ISModel (eval mode).
        mode: one of :data:`COMPILE_MODES` but "none".
        backend: the ``torch.compile`` backend ("inductor"; "eager" only traces, for tests).
        precision: "fp32", or "bf16": the compiled forward runs under ``torch.autocast(bfloat16)`` and its
            outputs come back as float32 (as :class:`AutocastNet`).
        device_type: "cpu" or "cuda": autocast's device type, and whether inductor freezes the weights (CPU).

    Raises:
        UserError: an unknown mode or precision.
    """

    def __init__(self, net, mode: str = "default", backend: str = "inductor", precision: str = "fp32",
                 device_type: str = "cpu"):
        if mode not in COMPILE_MODES or mode == "none":
            raise UserError(f"unknown compile mode {mode!r}; expected one of {', '.join(COMPILE_MODES[1:])}")
        if precision not in PRECISIONS:
            raise UserError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
        self.net = net
        self.mode = mode
        self.precision = precision
        self.device_type = device_type
        self.with_prev_mask = bool(getattr(net, "with_prev_mask", False))
        kwargs = {"mode": None if mode == "default" else mode}
        if backend == "inductor" and device_type == "cpu":   # the mode's options plus weight freezing
            from torch._inductor import list_mode_options

            kwargs = {"options": dict(list_mode_options(mode, dynamic=True), freezing=True)}
        if callable(getattr(net, "backbone_forward", None)):
            # Only the network after the click encoding is compiled: the click maps depend on the number of
            # clicks, which would retrace the graph at every new count; the backbone sees (B, C, H, W) maps only.
            import copy

            compiled = copy.copy(net)   # shares the modules; the compiled method is set on the copy only
            compiled.backbone_forward = torch.compile(net.backbone_forward, dynamic=True, backend=backend, **kwargs)
            self._compiled = compiled
        else:
            self._compiled = torch.compile(net, dynamic=True, backend=backend, **kwargs)
        self.warmup_seconds = None

    def __call__(self, image: torch.Tensor, points: torch.Tensor) -> dict:
        with torch.no_grad(), torch.autocast(self.device_type, dtype=torch.bfloat16,
                                             enabled=self.precision == "bf16"):
            out = self._compiled(image, points)
        return out if self.precision == "fp32" else {key: value.float() for key, value in out.items()}

    def warm_up(self, device, sizes=((352, 400), (400, 288)), clicks=(1, 3)) -> float:
        """Compile before the first click: call the network on zero images of ``sizes`` (H, W) with a flip pair
        (batch 2) and ``clicks`` positive clicks each, so that the dynamic graph exists before anything is timed
        (RITM's SPC leaves model loading out; compilation is loading here). The sizes are not square: dynamo's
        duck sizing would tie H to W on a square first input and retrace at the first non-square crop.

        Returns:
            the seconds it took (also kept as ``warmup_seconds``).
        """
        from time import perf_counter

        start = perf_counter()
        channels = 4 if self.with_prev_mask else 3
        with torch.inference_mode():
            for (height, width), n in zip(sizes, clicks):
                points = torch.full((2, 2 * n, 3), -1.0, device=device)
                points[:, :n, 0], points[:, :n, 1] = height / 2, width / 2
                points[:, :n, 2] = torch.arange(n, device=device, dtype=torch.float32)
                self(torch.zeros(2, channels, height, width, device=device), points)
        self.warmup_seconds = perf_counter() - start
        return self.warmup_seconds


class AutocastNet:
    """A torch click model run under ``torch.autocast(dtype=bfloat16)``; logits come back as float32.

    Same call and ``with_prev_mask`` as the wrapped ISModel (NoBRS only: the BRS modes need the model's
    inner methods and refuse this wrapper). On CPUs without native bf16 (AVX2 only) this is slower than
    fp32, not faster.
    """

    def __init__(self, net, device_type: str = "cpu"):
        self.net = net
        self.device_type = device_type
        self.with_prev_mask = bool(getattr(net, "with_prev_mask", False))

    def __call__(self, image: torch.Tensor, points: torch.Tensor) -> dict:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            out = self.net(image, points)
        return {key: value.float() for key, value in out.items()}


def load_backend_net(path, device, backend: str = "torch", precision: str = "fp32", fold_bn: bool = False,
                     compile_mode: str = "none", compile_backend: str = "inductor", channels_last: bool = False):
    """The network of a predictor from a file: an ISModel checkpoint (``backend='torch'``, optionally
    under bf16 autocast), an exported ``.onnx`` (``'onnx'``, CPU only) or TorchScript file (``'torchscript'``).

    Args:
        path, device: the file and the torch device.
        backend, precision: see :data:`BACKENDS`, :data:`PRECISIONS`.
        fold_bn: torch backend: BatchNorm folded into the convolutions
            (:func:`isegm.model.fusion.optimize_for_inference`; outputs within ~1e-6, BRS modes still work).
        compile_mode: torch backend: :class:`CompiledNet` with this mode and ``precision`` ("none": eager),
            compiled here (:meth:`CompiledNet.warm_up`) so that no click pays for it.
        compile_backend: the ``torch.compile`` backend of ``compile_mode``.
        channels_last: torch backend: convolution weights stored NHWC (inputs stay NCHW). On the CPU oneDNN then
            picks faster kernels (HRNet18s: forward ~0.75x) whose sums differ by ~1e-6, enough to move a click
            now and then: off where per-click parity with RITM matters.

    Raises:
        UserError: unknown backend, precision or compile mode, the ONNX backend on a non-CPU device, bf16 with an
            exported backend, ``fold_bn`` / ``compile_mode`` with an exported backend, a file of
            another kind (e.g. a .pth given to the ONNX backend).
        FileNotFoundError: no such file.
    """
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision != "fp32" and backend != "torch":
        raise UserError(f"--precision {precision} needs --backend torch (exported models run in their own precision)")
    if compile_mode not in COMPILE_MODES:
        raise UserError(f"unknown compile mode {compile_mode!r}; expected one of {', '.join(COMPILE_MODES)}")
    if (fold_bn or channels_last or compile_mode != "none") and backend != "torch":
        raise UserError(f"--fold-bn / --channels-last / --compile need --backend torch (got {backend}: exported "
                        f"graphs are fixed)")
    if backend == "torch":
        from isegm.model import load_is_model

        if str(path).lower().endswith(".onnx"):
            raise UserError(f"{path} is an ONNX file: run it with --backend onnx (the torch backend takes a .pth)")

        net = load_is_model(str(path), device=device, eval_mode=True)
        if fold_bn or channels_last:
            from isegm.model.fusion import optimize_for_inference

            net = optimize_for_inference(net, fold_batchnorm=fold_bn, channels_last=channels_last)
        if compile_mode != "none":
            compiled = CompiledNet(net, compile_mode, compile_backend, precision=precision,
                                   device_type=torch.device(device).type)
            compiled.warm_up(device)
            return compiled
        return AutocastNet(net, torch.device(device).type) if precision == "bf16" else net
    if backend == "onnx":
        if torch.device(device).type != "cpu":
            raise UserError(f"--backend onnx runs on the CPU (onnxruntime's CPU provider); got device {device}, "
                            f"pass --cpu")
        return OnnxNet(path)
    return TorchScriptNet(path, device)
