"""`quantize` command: int8 static quantization (QDQ) with phantom calibration slices.

Needs Python onnxruntime (present on the GPU machine, absent from Debian's packages); the
command says so and stops when it is missing. Reports the size and the probability change
against the float model on held-out phantom slices.
"""
from pathlib import Path

import numpy as np
import onnx
from .contract import INPUT_NAME, windows_from_json
from .data import render_phantom_tensors
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


def quantize_model(model: Path, out: Path, calibration: int = 64, seed: int = 7) -> dict:
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as err:
        raise RuntimeError("quantize needs the Python package onnxruntime (pip install onnxruntime); "
                           "it is not installed here. Run it on the GPU machine or any pip environment.") from err
    from .export import read_metadata, run_onnx, set_metadata

    meta = read_metadata(model)
    windows, size = windows_from_json(meta["ich.windows"]), int(meta["ich.input"]["size"])
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
    proto = onnx.load(str(out))
    card = meta["ich.model"]
    card["quantization"] = f"int8 static QDQ, per-channel weights, {calibration} phantom calibration slices"
    set_metadata(proto, {**meta, "ich.model": card})
    onnx.save(proto, str(out))
    held_out, labels = phantom_slices(windows, size, 128, seed + 1)
    float_probs, int8_probs = run_onnx(model, held_out), run_onnx(out, held_out)
    return {
        "model": str(out),
        "bytes": out.stat().st_size,
        "float_bytes": model.stat().st_size,
        "held_out_slices": len(held_out),
        "max_abs_prob_change": float(np.abs(float_probs - int8_probs).max()),
        "mean_abs_prob_change": float(np.abs(float_probs - int8_probs).mean()),
        "roc_auc_float": roc_auc(labels, float_probs),
        "roc_auc_int8": roc_auc(labels, int8_probs),
    }
