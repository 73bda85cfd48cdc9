"""Deployment export of a whole click model: ONNX (fp32 or int8 QDQ) and TorchScript.

The exported graph is the click model of :class:`isegm.model.is_model.ISModel` with the previous
mask as a separate input (RITM's 4th input channel)::

    image     (B, 3, H, W) float32 RGB in [0, 1] (not normalised)
    prev_mask (B, 1, H, W) float32 previous probabilities in [0, 1] (ignored by models without
              ``with_prev_mask``; it is then absent from the ONNX graph)
    points    (B, 2N, 3) float32 rows (y, x, click order), first N positive, last N negative,
              padding (-1, -1, -1) (see :func:`isegm.geometry.pack_points`)
    ->
    instances (B, 1, H, W) float32 logits at input resolution

B, H, W and N are dynamic. BatchNorm is folded into the convolutions before export
(:func:`isegm.model.fusion.optimize_for_inference`), which changes logits by ~1e-7.

ONNX uses ``torch.onnx.export``'s TorchScript-based ("legacy") exporter by default: with torch 2.14
it gives the same logits as the torch.export-based ("dynamo") exporter (both ~4e-6 from PyTorch on
the shipped HRNet18s) and exports in ~2 s instead of ~45 s; ``dynamo=True`` selects the other one.
Files are identified by the metadata key :data:`FORMAT_KEY` (ONNX ``metadata_props``, TorchScript
extra file ``isegm.json``), so a foreign ``.onnx`` / ``.pt`` is refused in one line on loading.
int8: ``onnxruntime.quantization.quantize_static`` (QDQ format, per-channel weights, MinMax
calibration on feeds the caller supplies).
"""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path
from typing import Iterable, Mapping, Optional

import torch
import torch.nn as nn

from isegm.errors import UserError
from isegm.io import atomic_write_bytes

FORMAT_KEY = "isegm.format"
FORMAT_VALUE = "isegm-click-model/1"
INPUT_NAMES = ("image", "prev_mask", "points")
OUTPUT_NAME = "instances"
EXPORT_FORMATS = ("onnx", "torchscript")
ONNX_OPSET = 17


class ExportError(UserError, ValueError):
    """A model or file that cannot be exported / loaded as an exported click model (one line)."""


class ClickModelGraph(nn.Module):
    """``(image, prev_mask, points) -> logits``: the traced form of an ISModel (see the module docstring)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.with_prev_mask = bool(getattr(net, "with_prev_mask", False))

    def forward(self, image: torch.Tensor, prev_mask: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        if self.with_prev_mask:
            image = torch.cat((image, prev_mask), dim=1)
        return self.net(image, points)["instances"]


@contextlib.contextmanager
def _quiet():
    """Silence the tracer's warnings on the shape checks (constant for the graph: they hold for any input
    the graph takes) and the legacy exporter's deprecation notice."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _graph(model: nn.Module) -> ClickModelGraph:
    from .fusion import optimize_for_inference
    from .is_model import ISModel

    if not isinstance(model, ISModel):
        raise ExportError(f"cannot export a {type(model).__name__}: expected an isegm ISModel")
    return ClickModelGraph(optimize_for_inference(model, fold_batchnorm=True, channels_last=False)).eval()


def example_inputs(with_prev_mask: bool = True, height: int = 96, width: int = 128, n_clicks: int = 3,
                   batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random ``(image, prev_mask, points)`` of the exported graph's layout (``n_clicks`` per sign, the
    last negative row padding), e.g. for tracing and parity checks."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, height, width, generator=g)
    prev_mask = torch.rand(batch, 1, height, width, generator=g)
    points = torch.full((batch, 2 * n_clicks, 3), -1.0)
    for k in range(2 * n_clicks - 1):
        y = float(torch.randint(0, height, (1,), generator=g))
        x = float(torch.randint(0, width, (1,), generator=g))
        points[:, k] = torch.tensor([y, x, float(k)])
    return image, prev_mask, points


def model_metadata(model: nn.Module, extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The string metadata written into exported files (format tag, model class, prev-mask input)."""
    meta = {FORMAT_KEY: FORMAT_VALUE, "isegm.model_class": type(model).__name__,
            "isegm.with_prev_mask": str(bool(getattr(model, "with_prev_mask", False))).lower(),
            "isegm.bn_folded": "true", "isegm.quantization": "none"}
    meta.update({str(k): str(v) for k, v in (extra or {}).items()})
    return meta


def onnx_bytes(model: nn.Module, *, dynamo: bool = False, metadata: Optional[Mapping[str, str]] = None) -> bytes:
    """Serialized ONNX (opset :data:`ONNX_OPSET`) of ``model``'s click graph, metadata included.

    Raises:
        ExportError: ``model`` is not an ISModel.
    """
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install -e '.[export]'") from None

    graph = _graph(model)
    inputs = example_inputs(graph.with_prev_mask, n_clicks=3)
    names = list(INPUT_NAMES)
    with torch.no_grad(), _quiet():
        if dynamo:
            batch = torch.export.Dim("batch", min=1, max=64)
            height = torch.export.Dim("height", min=8, max=8192)
            width = torch.export.Dim("width", min=8, max=8192)
            rows = torch.export.Dim("clicks", min=1, max=4096) * 2
            image_dims = {0: batch, 2: height, 3: width}
            program = torch.onnx.export(graph, inputs, None, dynamo=True, input_names=names,
                                        output_names=[OUTPUT_NAME], verbose=False,
                                        dynamic_shapes={"image": image_dims, "prev_mask": image_dims,
                                                        "points": {0: batch, 1: rows}})
            proto = program.model_proto
        else:
            image_axes = {0: "batch", 2: "height", 3: "width"}
            buffer = io.BytesIO()
            torch.onnx.export(graph, inputs, buffer, dynamo=False, opset_version=ONNX_OPSET, input_names=names,
                              output_names=[OUTPUT_NAME],
                              dynamic_axes={"image": image_axes, "prev_mask": image_axes,
                                            "points": {0: "batch", 1: "rows"}, OUTPUT_NAME: image_axes})
            proto = onnx.load_from_string(buffer.getvalue())
    meta = model_metadata(model, metadata)
    meta["isegm.exporter"] = "dynamo" if dynamo else "legacy"
    set_onnx_metadata(proto, meta)
    return proto.SerializeToString()


def set_onnx_metadata(proto, meta: Mapping[str, str]) -> None:
    """Replace/add ``meta`` entries in an onnx ModelProto's ``metadata_props``."""
    keep = [(p.key, p.value) for p in proto.metadata_props if p.key not in meta]
    del proto.metadata_props[:]
    for key, value in keep + list(meta.items()):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def torchscript_bytes(model: nn.Module, metadata: Optional[Mapping[str, str]] = None) -> bytes:
    """``torch.jit.trace`` of the click graph, saved with the metadata as extra file ``isegm.json``.

    Raises:
        ExportError: ``model`` is not an ISModel.
    """
    graph = _graph(model)
    inputs = example_inputs(graph.with_prev_mask, n_clicks=3)
    with torch.no_grad(), _quiet():
        traced = torch.jit.trace(graph, inputs, check_trace=False)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer, _extra_files={"isegm.json": json.dumps(model_metadata(model, metadata))})
    return buffer.getvalue()


#: ops quantised by default: the convolutions and matrix products carry nearly all of the compute; the
#: rest (Resize, Add, Concat, Softmax ...) stays float, which costs less accuracy than re-quantising around it.
INT8_OPS = ("Conv", "MatMul")


def quantize_onnx_int8(fp32_model: bytes, calibration_feeds: Iterable[Mapping], *,
                       per_channel: bool = True, op_types: Optional[Iterable[str]] = INT8_OPS) -> bytes:
    """Static int8 quantisation (QDQ) of an exported fp32 ONNX click model.

    ``onnxruntime.quantization.quantize_static`` with MinMax calibration over ``calibration_feeds``
    (dicts ``{input name: float32 array}`` as the predictor feeds the model), int8 activations and
    weights (per channel), QDQ format; only ``op_types`` are quantised (None: every op type the quantiser
    supports), other ops stay float between QDQ pairs.

    Raises:
        ExportError: no calibration feed, the quantiser failed (the message names the error), or it
            quantised nothing (no QuantizeLinear node in the result).
    """
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    op_types = tuple(op_types) if op_types is not None else None
    feeds = list(calibration_feeds)
    if not feeds:
        raise ExportError("int8 quantisation needs calibration inputs; none were given")

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32_model)
        try:
            quantize_static(str(src), str(dst), _Reader(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            per_channel=per_channel,
                            op_types_to_quantize=list(op_types) if op_types is not None else None)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises many types; one line for the user
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportError(f"int8 quantisation refused: onnxruntime.quantization cannot handle this graph "
                              f"({type(exc).__name__}: {first[:300]})") from None
        proto = onnx.load(str(dst))
    if not any(node.op_type == "QuantizeLinear" for node in proto.graph.node):
        raise ExportError("int8 quantisation refused: onnxruntime.quantization quantised no op of this graph")
    set_onnx_metadata(proto, {"isegm.quantization": "int8-qdq-static",
                              "isegm.calibration_feeds": str(len(feeds)),
                              "isegm.int8_ops": ",".join(op_types) if op_types is not None else "all",
                              "isegm.quantize_nodes": str(sum(n.op_type == "QuantizeLinear"
                                                              for n in proto.graph.node))})
    return proto.SerializeToString()


def write_export(data: bytes, output) -> Path:
    """Write exported bytes atomically (:func:`isegm.io.atomic_write_bytes`)."""
    return atomic_write_bytes(output, data)
