"""`predict` command: probabilities for labelled DICOM slices from a training checkpoint or
an exported ONNX model, as the CSV that `eval` reads (sop_instance_uid,
series_instance_uid, z, six classes)."""
from pathlib import Path
from typing import Optional

import numpy as np
from torch.utils.data import DataLoader

from .contract import windows_from_json
from .data import DicomSlices, load_table
from .train import load_checkpoint, pick_device, predict, write_predictions


def predict_to_csv(model_path: Path, labels: Path, images: Optional[Path], out: Path, batch: int, workers: int,
                   progress=None) -> int:
    table = load_table(labels, images)
    if model_path.suffix == ".onnx":
        probs = _predict_onnx(model_path, table, batch, workers, progress)
    else:
        model, config, _ = load_checkpoint(model_path)
        device = pick_device("auto")
        dataset = DicomSlices(table, windows_from_json(config.windows), config.size)
        probs, _ = predict(model.to(device), DataLoader(dataset, batch_size=batch, num_workers=workers), device, progress)
    series = table["series_instance_uid"] if "series_instance_uid" in table else table["sop_instance_uid"]
    z = table["z"] if "z" in table else [0.0] * len(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_predictions(out, list(table["sop_instance_uid"]), list(series), list(z), probs)
    return len(table)


def _predict_onnx(model_path: Path, table, batch: int, workers: int, progress) -> np.ndarray:
    from .export import read_metadata, run_onnx

    meta = read_metadata(model_path)
    dataset = DicomSlices(table, windows_from_json(meta["ich.windows"]), int(meta["ich.input"]["size"]))
    loader = DataLoader(dataset, batch_size=batch, num_workers=workers)
    chunks = []
    for images, _ in (progress(loader, desc="predict") if progress else loader):
        probs = run_onnx(model_path, images.numpy())
        if probs is None:
            raise RuntimeError("predicting with an ONNX file needs Python onnxruntime or node with onnxruntime-node")
        chunks.append(probs)
    return np.concatenate(chunks)
