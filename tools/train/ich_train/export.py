"""ONNX export with the model contract's metadata (DESIGN.md section 3).

The graph takes `input` float32 [batch, 3, size, size] (dynamic batch) and returns `probs`
float32 [batch, 6], sigmoid applied inside. metadata_props carry ich.classes, ich.windows,
ich.input, ich.output, ich.thresholds (JSON object class -> threshold) and ich.model.
"""
import inspect
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import onnx
import torch

from .contract import CLASSES, INPUT_NAME, METADATA_KEYS, OUTPUT_NAME, input_spec, output_spec
from .models import WithSigmoid

OPSET = 17  # onnx 1.12 (Debian) writes at most 17; onnxruntime-node 1.30 reads it
ONNX_RUN_SCRIPT = Path(__file__).parent / "js" / "onnx_run.mjs"


def thresholds_from_eval(eval_metrics: Optional[dict], policy: str) -> Dict[str, float]:
    """Per-class operating points: `precision` / `recall` take eval's at_precision /
    at_recall thresholds (0.5 where a class had none), `fixed:T` uses T for every class."""
    if policy.startswith("fixed:"):
        value = float(policy.split(":", 1)[1])
        return {cls: value for cls in CLASSES}
    if policy not in ("precision", "recall"):
        raise ValueError(f"threshold policy {policy!r}: use precision, recall or fixed:<value>")
    if not eval_metrics:
        raise ValueError(f"threshold policy {policy!r} needs eval metrics (--eval-json)")
    points = eval_metrics[f"at_{policy}"]["per_class"]
    return {cls: float(points[cls]["threshold"]) if points[cls]["threshold"] is not None else 0.5 for cls in CLASSES}


def model_card_metadata(*, name: str, version: str, architecture: str, training_data: str, intended_use: str,
                        date: str, validation_metrics: dict, extra: Optional[dict] = None) -> dict:
    return {
        "name": name,
        "version": version,
        "architecture": architecture,
        "training_data": training_data,
        "date": date,
        "intended_use": intended_use,
        "validation_metrics": validation_metrics,
        **(extra or {}),
    }


def summary_metrics(metrics: dict) -> dict:
    """The validation numbers worth carrying inside the model file."""
    keep = {key: metrics[key] for key in ("n_images", "roc_auc", "weighted_log_loss", "exact_match_accuracy") if key in metrics}
    if "series" in metrics:
        keep["series_roc_auc"] = metrics["series"]["roc_auc"]
    return keep


def export_onnx(model: torch.nn.Module, path: Path, *, size: int, windows: Sequence[dict], thresholds: Dict[str, float],
                card: dict) -> onnx.ModelProto:
    """Write `model` (logits) as a contract-conforming ONNX file and return it, checked."""
    wrapped = WithSigmoid(model).eval()
    example = torch.rand(2, len(windows), size, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(wrapped, example, str(raw), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                          opset_version=OPSET, do_constant_folding=True, **_torchscript_exporter())
        proto = onnx.load(str(raw))
    set_metadata(proto, {
        "ich.classes": CLASSES,
        "ich.windows": list(windows),
        "ich.input": input_spec(size),
        "ich.output": output_spec(),
        "ich.thresholds": thresholds,
        "ich.model": card,
    })
    proto.producer_name = "ich_train"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return proto


def _torchscript_exporter() -> dict:
    # torch >= 2.9 defaults to the dynamo exporter (needs onnxscript, picks its own opset);
    # the TorchScript exporter keeps opset 17 and dynamic_axes on torch 1.13 and 2.x alike.
    return {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def set_metadata(proto: onnx.ModelProto, values: Dict[str, object]) -> None:
    existing = {prop.key: prop for prop in proto.metadata_props}
    for key, value in values.items():
        prop = existing.get(key) or proto.metadata_props.add()
        prop.key, prop.value = key, json.dumps(value, separators=(",", ":"))


def read_metadata(path: Path) -> Dict[str, object]:
    proto = onnx.load(str(path), load_external_data=False)
    return {prop.key: json.loads(prop.value) for prop in proto.metadata_props if prop.key.startswith("ich.")}


def contract_problems(path: Path) -> list:
    """What a model file lacks for the node (empty when it conforms)."""
    proto = onnx.load(str(path))
    meta = {prop.key: prop.value for prop in proto.metadata_props}
    problems = [f"metadata {key} missing" for key in METADATA_KEYS if key not in meta]
    if [i.name for i in proto.graph.input] != [INPUT_NAME]:
        problems.append(f"input names {[i.name for i in proto.graph.input]} != ['{INPUT_NAME}']")
    if [o.name for o in proto.graph.output] != [OUTPUT_NAME]:
        problems.append(f"output names {[o.name for o in proto.graph.output]} != ['{OUTPUT_NAME}']")
    if not problems:
        size = json.loads(meta["ich.input"])["size"]
        dims = proto.graph.input[0].type.tensor_type.shape.dim
        shape = [d.dim_param or d.dim_value for d in dims]
        if shape[1:] != [len(json.loads(meta["ich.windows"])), size, size] or not isinstance(shape[0], str):
            problems.append(f"input shape {shape} is not [batch, channels, {size}, {size}] with a dynamic batch")
        if json.loads(meta["ich.classes"]) != CLASSES:
            problems.append("ich.classes differs from the contract's order")
    return problems


def run_onnx(path: Path, batch: np.ndarray) -> Optional[np.ndarray]:
    """Probabilities from onnxruntime (Python if installed, else the node's onnxruntime-node);
    None when neither is available."""
    try:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run([OUTPUT_NAME], {INPUT_NAME: batch.astype(np.float32)})[0]
    except ImportError:
        pass
    if shutil.which("node") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.f32", Path(tmp) / "out.f32"
        batch.astype(np.float32).tofile(source)
        n, c, size, _ = batch.shape
        result = subprocess.run(["node", str(ONNX_RUN_SCRIPT), str(path), str(source), str(n), str(c), str(size), str(target)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            if "Cannot find module 'onnxruntime-node'" in result.stderr:
                return None
            raise RuntimeError(f"onnxruntime-node failed on {path}: {result.stderr.strip()}")
        return np.fromfile(target, dtype=np.float32).reshape(n, len(CLASSES))


def torch_vs_onnx(model: torch.nn.Module, path: Path, batch: np.ndarray) -> Optional[float]:
    """Max abs difference of probabilities, torch vs ONNX runtime (None: no runtime here)."""
    onnx_probs = run_onnx(path, batch)
    if onnx_probs is None:
        return None
    with torch.no_grad():
        torch_probs = torch.sigmoid(model.eval()(torch.from_numpy(batch.astype(np.float32)))).numpy()
    return float(np.abs(torch_probs - onnx_probs).max())


def export_checkpoint(checkpoint: Path, out: Path, *, name: str, version: str, intended_use: str, training_data: str,
                      eval_json: Optional[Path], threshold_policy: str) -> dict:
    """Export a training checkpoint; thresholds and card metrics from eval (or the
    checkpoint's own validation metrics). Returns a report with the torch-vs-ONNX difference."""
    import datetime
    import hashlib

    from .train import load_checkpoint

    model, config, checkpoint_metrics = load_checkpoint(checkpoint)
    metrics = json.loads(eval_json.read_text()) if eval_json else checkpoint_metrics
    thresholds = thresholds_from_eval(metrics, threshold_policy)
    card = model_card_metadata(
        name=name, version=version,
        architecture=f"{config.arch} + {config.head} head (256 ReLU) + 6 sigmoid outputs",
        training_data=training_data or _describe_data(config),
        date=datetime.date.today().isoformat(), intended_use=intended_use,
        validation_metrics=summary_metrics(metrics),
        extra={"input_size": config.size, "threshold_policy": threshold_policy, "trainer": "ich_train",
               "training": metrics.get("training", {})},
    )
    export_onnx(model, out, size=config.size, windows=config.windows, thresholds=thresholds, card=card)
    difference = torch_vs_onnx(model, out, check_batch(config))
    return {
        "model": str(out),
        "bytes": out.stat().st_size,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "thresholds": thresholds,
        "torch_vs_onnx_max_abs_diff": difference if difference is not None else "not measured: no onnxruntime here",
        "contract_problems": contract_problems(out),
    }


def check_batch(config) -> np.ndarray:
    """Realistic inputs for the torch-vs-ONNX check: slices of a phantom series with bleeds
    (random noise would drive every probability to 0 or 1 and hide differences)."""
    from .contract import windows_from_json
    from .phantom_data import render_phantom_tensors

    tensors, _ = render_phantom_tensors(20240101, 8, 256, windows_from_json(config.windows), config.size, 1.0)
    return tensors.numpy().astype(np.float32)


def _describe_data(config) -> str:
    if config.phantoms:
        return (f"{config.phantoms} synthetic head CT phantom series (ich_train synth, {config.phantom_slices} slices, "
                f"{config.phantom_matrix} px), seed {config.seed}; no patient data")
    return f"DICOM slices listed in {Path(config.labels).name}, split by {config.split}"
