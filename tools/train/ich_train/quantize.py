"""`quantize` command: int8 models.

- `static` (default): activations and weights int8 (QDQ), calibrated on phantom slices, with
  onnxruntime's tools. Needs Python onnxruntime (on the GPU machine; not in Debian), and
  says so when it is missing.
- `weights`: weights only, stored int8 per output channel with a DequantizeLinear in front
  of each Conv/Gemm; activations stay float. Needs nothing but onnx, so it works here; the
  file shrinks ~4x, the speed is that of the float model.
Both report the size and the change of probabilities and AUCs against the float model on
held-out phantom slices (measured with onnxruntime or the node's onnxruntime-node).
"""
from pathlib import Path

import numpy as np
import onnx
from .contract import INPUT_NAME, windows_from_json
from .phantom_data import render_phantom_tensors
from .metrics import roc_auc


def phantom_slices(windows, size: int, slices: int, seed: int, matrix: int = 512):
    """(inputs [slices, C, size, size] float32, labels [slices, 6]) from phantom series."""
    inputs, labels, series = [], [], 0
    while sum(len(x) for x in inputs) < slices:
        tensors, y = render_phantom_tensors(seed * 1000 + series, 16, matrix, windows, size)
        inputs.append(tensors.numpy().astype(np.float32))
        labels.append(y.numpy())
        series += 1
    return np.concatenate(inputs)[:slices], np.concatenate(labels)[:slices]


def quantize_weights(proto: onnx.ModelProto) -> int:
    """Replace float Conv/Gemm weights by int8 + per-channel scale + DequantizeLinear, in
    place; returns how many tensors were quantized."""
    from onnx import helper, numpy_helper

    initializers = {init.name: init for init in proto.graph.initializer}
    count = 0
    for node in list(proto.graph.node):
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2 or node.input[1] not in initializers:
            continue
        if node.op_type == "Gemm" and not any(a.name == "transB" and a.i == 1 for a in node.attribute):
            continue  # weight would be [in, out]: its output channels are not axis 0
        name = node.input[1]
        weight = numpy_helper.to_array(initializers[name]).astype(np.float32)
        channels = weight.reshape(weight.shape[0], -1)
        scale = np.maximum(np.abs(channels).max(axis=1), 1e-12) / 127.0
        quantized = np.clip(np.rint(channels / scale[:, None]), -127, 127).astype(np.int8).reshape(weight.shape)
        proto.graph.initializer.remove(initializers[name])
        proto.graph.initializer.extend([
            numpy_helper.from_array(quantized, f"{name}_int8"),
            numpy_helper.from_array(scale.astype(np.float32), f"{name}_scale"),
            numpy_helper.from_array(np.zeros(len(scale), np.int8), f"{name}_zero"),
        ])
        dequantize = helper.make_node("DequantizeLinear", [f"{name}_int8", f"{name}_scale", f"{name}_zero"], [name],
                                      name=f"{name}_dequantize", axis=0)
        proto.graph.node.insert(0, dequantize)
        count += 1
    return count


def quantize_model(model: Path, out: Path, calibration: int = 64, seed: int = 7, mode: str = "static") -> dict:
    from .export import read_metadata, run_onnx, set_metadata

    meta = read_metadata(model)
    windows, size = windows_from_json(meta["ich.windows"]), int(meta["ich.input"]["size"])
    if mode == "weights":
        proto = onnx.load(str(model))
        count = quantize_weights(proto)
        description = f"int8 weights (per output channel, symmetric) for {count} Conv/Gemm layers; float activations"
    elif mode == "static":
        proto = _quantize_static(model, out, windows, size, calibration, seed)
        description = f"int8 static QDQ, per-channel weights, {calibration} phantom calibration slices"
    else:
        raise ValueError(f"quantize mode {mode!r}: static or weights")
    card = meta["ich.model"]
    card["quantization"] = description
    set_metadata(proto, {**meta, "ich.model": card})
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    held_out, labels = phantom_slices(windows, size, 128, seed + 1)
    float_probs, int8_probs = run_onnx(model, held_out), run_onnx(out, held_out)
    report = {"model": str(out), "mode": mode, "bytes": out.stat().st_size, "float_bytes": model.stat().st_size,
              "held_out_slices": len(held_out)}
    if float_probs is None:
        return {**report, "comparison": "not measured: no onnxruntime here"}
    return {
        **report,
        "max_abs_prob_change": float(np.abs(float_probs - int8_probs).max()),
        "mean_abs_prob_change": float(np.abs(float_probs - int8_probs).mean()),
        "roc_auc_float": roc_auc(labels, float_probs),
        "roc_auc_int8": roc_auc(labels, int8_probs),
    }


def _quantize_static(model: Path, out: Path, windows, size: int, calibration: int, seed: int) -> onnx.ModelProto:
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as err:
        raise RuntimeError("static quantization needs the Python package onnxruntime (pip install onnxruntime); "
                           "it is not installed here. Run it where it is (e.g. the GPU machine), or use "
                           "--mode weights (int8 weights only, needs just onnx).") from err
    calibration_inputs, _ = phantom_slices(windows, size, calibration, seed)
    batches = [x[None] for x in calibration_inputs]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(batches)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {INPUT_NAME: item}

    prepared = out.with_suffix(".prep.onnx")
    quant_pre_process(str(model), str(prepared))
    quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    prepared.unlink()
    return onnx.load(str(out))
