"""Training loop: weighted BCE, Adam, checkpoints and resume, validation each epoch."""
import csv
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from .contract import CLASSES, DEFAULT_WINDOWS, PAPER_LOSS_WEIGHTS, Window, windows_from_json
from .metrics import evaluate
from .models import build_model
from .phantom_data import PhantomSlices

# DICOM data (data.py) needs pydicom, OpenCV and pandas, which the GPU machine lacks: it is
# imported only when --labels or --real-backgrounds asks for it.


@dataclass
class TrainConfig:
    out: str
    arch: str = "resnet50"
    head: str = "gap"
    size: int = 224
    windows: List[dict] = field(default_factory=lambda: [w.to_json() for w in DEFAULT_WINDOWS])
    pretrained: Optional[str] = None
    lr: float = 1e-5
    lr_schedule: str = "constant"  # or "cosine": decays to 0 over the planned steps
    batch: int = 16
    epochs: int = 10
    max_steps: Optional[int] = None
    loss_weights: List[float] = field(default_factory=lambda: list(PAPER_LOSS_WEIGHTS))
    seed: int = 0
    workers: int = 2
    threads: Optional[int] = None
    device: str = "auto"
    # data: DICOM (labels CSV, optional RSNA image folder) and/or phantoms rendered in memory
    labels: Optional[str] = None
    images: Optional[str] = None
    split: str = "patient"
    val_fraction: float = 0.1
    cache: Optional[str] = None
    phantoms: int = 0
    phantom_slices: int = 32
    phantom_matrix: int = 512
    phantom_bleed_probability: float = 0.5
    real_backgrounds: Optional[str] = None
    real_variants: int = 2
    real_insert_probability: float = 0.6
    augment: bool = True
    resume: Optional[str] = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class Split:
    train: Dataset
    val: Dataset
    val_ids: List[str]
    val_series: List[str]
    val_z: List[float]


def build_split(config: TrainConfig, windows: List[Window], progress=None) -> Split:
    """Train/validation data from any mix of phantoms (split by series), real backgrounds
    with inserted bleeds (split by series folder, one patient each in ../shared/data) and
    labelled DICOM (split by patient or, as the seed paper did, by image)."""
    cache = Path(config.cache) if config.cache else None
    train_parts, val_parts, ids, series, z = [], [], [], [], []
    if config.phantoms:
        n_val = max(1, int(round(config.val_fraction * config.phantoms)))
        seeds = list(range(config.seed * 1_000_000, config.seed * 1_000_000 + config.phantoms))
        device = str(pick_device(config.device)) if config.device != "cpu" else "cpu"
        make = lambda chosen: PhantomSlices(chosen, config.phantom_slices, config.phantom_matrix, windows, config.size,
                                            config.phantom_bleed_probability, config.workers, cache, progress, device)
        train, val = make(seeds[n_val:]), make(seeds[:n_val])
        train_parts.append(train), val_parts.append(val)
        ids += [f"phantom-{s}-{k}" for s, k in zip(val.series, val.z)]
        series += [f"phantom-{s}" for s in val.series]
        z += [float(k) for k in val.z]
    if config.real_backgrounds:
        from .data import RealBackgroundSlices, dicom_files

        files = dicom_files(Path(config.real_backgrounds))
        folders = sorted({str(p.parent) for p in files})
        if not files:
            raise FileNotFoundError(f"--real-backgrounds {config.real_backgrounds}: no .dcm files")
        n_val = max(1, int(round(config.val_fraction * len(folders))))
        held_out = set(np.random.default_rng(config.seed).permutation(folders)[:n_val].tolist())
        make = lambda chosen, variants, seed: RealBackgroundSlices(chosen, variants, windows, config.size, seed,
                                                                    config.real_insert_probability, progress)
        train = make([p for p in files if str(p.parent) not in held_out], config.real_variants, config.seed)
        val = make([p for p in files if str(p.parent) in held_out], 1, config.seed + 1)
        train_parts.append(train), val_parts.append(val)
        ids += val.ids
        series += [f"real-{patient}" for patient in val.patients]
        z += [0.0] * len(val)
    if config.labels:
        import pandas as pd

        from .data import DicomSlices, load_table

        table = load_table(Path(config.labels), Path(config.images) if config.images else None)
        test = _dicom_test_mask(table, config)
        train_table, val_table = table[~test].reset_index(drop=True), table[test].reset_index(drop=True)
        train_parts.append(DicomSlices(train_table, windows, config.size, cache))
        val_parts.append(DicomSlices(val_table, windows, config.size, cache))
        ids += list(val_table["sop_instance_uid"])
        series += list(val_table.get("series_instance_uid", val_table["sop_instance_uid"]).astype(str))
        z += list(val_table.get("z", pd.Series([0.0] * len(val_table))).astype(float))
    if not train_parts:
        raise ValueError("no training data: give --phantoms N, --real-backgrounds DIR and/or --labels CSV")
    return Split(ConcatDataset(train_parts), ConcatDataset(val_parts), ids, series, z)


def _dicom_test_mask(table, config: TrainConfig) -> np.ndarray:
    from .data import split_by_group, split_by_image

    if config.split == "patient":
        if "patient_id" not in table or table["patient_id"].fillna("").eq("").all():
            raise ValueError("--split patient needs PatientID for every image (wide CSV column patient_id)")
        return split_by_group(table["patient_id"].astype(str), config.val_fraction, config.seed)
    if config.split == "image":
        return split_by_image(len(table), config.val_fraction, config.seed)
    raise ValueError(f"unknown split {config.split!r}: patient or image")


@torch.no_grad()
def predict(model: torch.nn.Module, loader: DataLoader, device: torch.device, progress=None):
    """Probabilities [N, 6] and labels [N, 6] for everything in `loader`."""
    model.eval()
    probs, labels = [], []
    for images, y in (progress(loader, desc="predict", leave=False) if progress else loader):
        images = _to_device(images, device)
        with _autocast(device):
            logits = model(images)
        probs.append(torch.sigmoid(logits.float()).cpu())
        labels.append(y)
    return torch.cat(probs).numpy(), torch.cat(labels).numpy()


def train(config: TrainConfig, progress=None, log=print) -> dict:
    """Train, validate each epoch, checkpoint to `<out>/checkpoint.pt`; returns final metrics."""
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(config.device)
    windows = windows_from_json(config.windows)
    split = build_split(config, windows, progress)
    log(f"data: {len(split.train)} training slices, {len(split.val)} validation slices")
    model = build_model(config.arch, config.head, config.size, Path(config.pretrained) if config.pretrained else None)
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    weights = torch.tensor(config.loss_weights, dtype=torch.float32, device=device)
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(split.train, batch_size=config.batch, shuffle=True, drop_last=len(split.train) > config.batch,
                              num_workers=_loader_workers(split.train, config.workers), generator=generator)
    planned_steps = min(config.epochs * len(train_loader), config.max_steps or 1 << 62)
    epoch, step = 0, 0
    if config.resume:
        state = torch.load(config.resume, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch, step = state["epoch"], state["step"]
        log(f"resumed from {config.resume} at epoch {epoch}, step {step}")
    val_loader = DataLoader(split.val, batch_size=max(config.batch, 32), num_workers=_loader_workers(split.val, config.workers))
    metrics, seen, started = {}, 0, time.time()
    while epoch < config.epochs and not _done(step, config.max_steps):
        model.train()
        epoch_start, epoch_seen, running = time.time(), 0, 0.0
        bar = progress(train_loader, desc=f"epoch {epoch + 1}/{config.epochs}") if progress else train_loader
        for images, y in bar:
            if config.augment:
                images = random_flips(images, generator)
            images, y = _to_device(images, device), y.to(device)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step, planned_steps)
            with _autocast(device):
                logits = model(images)
            # Paper's eq. 1: per-class weights inside the mean over classes and images.
            loss = F.binary_cross_entropy_with_logits(logits.float(), y, weight=weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            epoch_seen += len(y)
            running = 0.98 * running + 0.02 * float(loss) if step > 1 else float(loss)
            if progress:
                bar.set_postfix(loss=f"{running:.4f}", ips=f"{epoch_seen / (time.time() - epoch_start):.1f}")
            if _done(step, config.max_steps):
                break
        seen += epoch_seen
        epoch += 1
        rate = epoch_seen / max(time.time() - epoch_start, 1e-9)
        probs, labels = predict(model, val_loader, device, progress)
        metrics = evaluate(labels, probs, split.val_series)
        metrics["training"] = {"epoch": epoch, "step": step, "images_per_second": rate, "loss": running,
                               "epoch_seconds": time.time() - epoch_start, "device": str(device)}
        log(f"epoch {epoch}: {rate:.1f} images/s, loss {running:.4f}, val any AUC "
            f"{_fmt(metrics['roc_auc']['any'])}, weighted log loss {metrics['weighted_log_loss']:.4f}")
        _write_outputs(out, model, optimizer, config, epoch, step, metrics, split, probs, labels)
    metrics.setdefault("training", {})["total_seconds"] = time.time() - started
    metrics["training"]["total_images_per_second"] = seen / max(time.time() - started, 1e-9)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def load_checkpoint(path: Path):
    """(model in eval mode, TrainConfig, metrics) from a checkpoint written by `train`."""
    state = torch.load(path, map_location="cpu")
    config = TrainConfig(**state["config"])
    model = build_model(config.arch, config.head, config.size)
    model.load_state_dict(state["model"])
    return model.eval(), config, state.get("metrics", {})


def write_predictions(path: Path, ids, series, z, values: np.ndarray) -> None:
    """The predictions CSV `eval` reads: sop_instance_uid, series_instance_uid, z, 6 classes."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sop_instance_uid", "series_instance_uid", "z"] + CLASSES)
        for row in zip(ids, series, z, values.tolist()):
            writer.writerow(list(row[:3]) + [repr(v) if isinstance(v, float) else v for v in row[3]])


def _write_outputs(out, model, optimizer, config, epoch, step, metrics, split, probs, labels):
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "step": step,
                "config": asdict(config), "metrics": metrics}, out / "checkpoint.tmp")
    (out / "checkpoint.tmp").replace(out / "checkpoint.pt")  # a crash never leaves half a checkpoint
    write_predictions(out / "val_predictions.csv", split.val_ids, split.val_series, split.val_z, probs)
    write_predictions(out / "val_labels.csv", split.val_ids, split.val_series, split.val_z, labels.astype(int))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))


def random_flips(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Left-right mirror of about half the batch: bleeds occur on either side."""
    flip = torch.rand(len(images), generator=generator) < 0.5
    images = images.clone()
    images[flip] = images[flip].flip(-1)
    return images


def learning_rate(config: TrainConfig, step: int, planned_steps: int) -> float:
    """Learning rate at `step`. Stateless, so a resumed run with other --epochs re-plans the
    cosine decay from where it stands."""
    if config.lr_schedule == "constant":
        return config.lr
    if config.lr_schedule != "cosine":
        raise ValueError(f"unknown --lr-schedule {config.lr_schedule!r}: constant or cosine")
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(step, planned_steps) / max(planned_steps, 1)))


def _done(step: int, max_steps: Optional[int]) -> bool:
    return max_steps is not None and step >= max_steps


def _loader_workers(dataset: ConcatDataset, workers: int) -> int:
    # In-memory slices (phantoms, real backgrounds): worker processes would only copy them.
    in_memory = all(hasattr(part, "images") for part in dataset.datasets)
    return 0 if in_memory else workers


def _to_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    images = images.to(device, non_blocking=True)
    return images.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else images


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
