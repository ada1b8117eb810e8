"""`predict` command: a checkpoint's probabilities for labelled DICOM slices, as the CSV
that `eval` reads (sop_instance_uid, series_instance_uid, z, six classes)."""
from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import DataLoader

from .contract import windows_from_json
from .data import DicomSlices, load_table
from .train import load_checkpoint, pick_device, predict, write_predictions


def predict_to_csv(checkpoint: Path, labels: Path, images: Optional[Path], out: Path, batch: int, workers: int,
                   progress=None) -> int:
    model, config, _ = load_checkpoint(checkpoint)
    device = pick_device("auto")
    table = load_table(labels, images)
    dataset = DicomSlices(table, windows_from_json(config.windows), config.size)
    probs, _ = predict(model.to(device), DataLoader(dataset, batch_size=batch, num_workers=workers), device, progress)
    series = table["series_instance_uid"] if "series_instance_uid" in table else table["sop_instance_uid"]
    z = table["z"] if "z" in table else [0.0] * len(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_predictions(out, list(table["sop_instance_uid"]), list(series), list(z), probs)
    return len(table)
