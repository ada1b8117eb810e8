"""Datasets and splits: DICOM slices (RSNA layout or wide CSV) and rendered phantoms."""
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .contract import CLASSES, Window
from .labels import read_rsna_long, read_wide
from .phantom import random_series_params, render_series, slice_labels
from .preprocess import preprocess_file


def rsna_table(image_dir: Path, csv_path: Path, read_headers: bool = True) -> pd.DataFrame:
    """Wide table for the RSNA layout: `<image_dir>/<ID>.dcm` labelled by the long CSV.

    Patient and series come from the headers (slow for 750k files, hence optional: the
    image split does not need them)."""
    labels = read_rsna_long(csv_path)
    paths = [image_dir / f"{image}.dcm" for image in labels.index]
    present = [p.is_file() for p in paths]
    if not any(present):
        raise FileNotFoundError(f"none of the {len(paths)} labelled images is in {image_dir}")
    table = labels[present].reset_index().rename(columns={"image": "sop_instance_uid"})
    table["path"] = [str(p) for p, ok in zip(paths, present) if ok]
    if read_headers:
        import pydicom

        headers = [pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["PatientID", "SeriesInstanceUID",
                                                                                "ImagePositionPatient"])
                   for p in table["path"]]
        table["patient_id"] = [str(h.get("PatientID", "")) for h in headers]
        table["series_instance_uid"] = [str(h.get("SeriesInstanceUID", "")) for h in headers]
        table["z"] = [float(h.ImagePositionPatient[2]) if "ImagePositionPatient" in h else 0.0 for h in headers]
    return table


def load_table(labels: Path, image_dir: Optional[Path] = None) -> pd.DataFrame:
    """RSNA layout when `image_dir` is given, else our wide CSV."""
    return rsna_table(image_dir, labels) if image_dir else read_wide(labels)


def split_by_group(groups: Sequence[str], test_fraction: float, seed: int) -> np.ndarray:
    """Boolean test mask holding whole groups (patients) until `test_fraction` of rows."""
    groups = np.asarray(groups)
    unique = np.unique(groups)
    order = np.random.default_rng(seed).permutation(len(unique))
    counts = pd.Series(groups).value_counts()
    target = test_fraction * len(groups)
    chosen, total = [], 0
    for index in order:
        if total >= target:
            break
        chosen.append(unique[index])
        total += counts[unique[index]]
    return np.isin(groups, chosen)


def split_by_image(count: int, test_fraction: float, seed: int) -> np.ndarray:
    """The seed paper's split: random images, leaking patients across train and test."""
    mask = np.zeros(count, dtype=bool)
    mask[np.random.default_rng(seed).permutation(count)[: int(round(test_fraction * count))]] = True
    return mask


def preprocess_torch(hu: torch.Tensor, windows: Sequence[Window], size: int) -> torch.Tensor:
    """Batched windows + bilinear resize of HU images [N, H, W] -> [N, C, size, size].

    Same arithmetic as preprocess.tensor_from_hu (torch's half-pixel bilinear without
    antialiasing equals cv2.INTER_LINEAR); used where phantoms are rendered on the fly."""
    channels = [(hu.clamp(w.low, w.low + w.width) - w.low) / w.width for w in windows]
    stacked = torch.stack(channels, dim=1)
    if stacked.shape[-2:] == (size, size):
        return stacked
    return F.interpolate(stacked, size=(size, size), mode="bilinear", align_corners=False)


class DicomSlices(Dataset):
    """Slices of a wide table, preprocessed by the reference; optional .npy cache."""

    def __init__(self, table: pd.DataFrame, windows: Sequence[Window], size: int, cache_dir: Optional[Path] = None):
        self.paths = list(table["path"])
        self.uids = list(table["sop_instance_uid"])
        self.labels = torch.tensor(table[CLASSES].to_numpy(np.float32))
        self.windows, self.size, self.cache_dir = list(windows), size, cache_dir
        if cache_dir:
            cache_dir.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        cached = self.cache_dir / f"{self.uids[index]}_{self.size}.npy" if self.cache_dir else None
        if cached and cached.is_file():
            tensor = np.load(cached).astype(np.float32)
        else:
            tensor, _ = preprocess_file(Path(self.paths[index]), self.windows, self.size)
            if cached:
                np.save(cached, tensor.astype(np.float16))
        return torch.from_numpy(tensor), self.labels[index]


def render_phantom_tensors(seed: int, slices: int, matrix: int, windows: Sequence[Window], size: int,
                           bleed_probability: float = 0.5, device: str = "cpu") -> Tuple[torch.Tensor, torch.Tensor]:
    """One phantom series as model inputs [slices, C, size, size] and labels [slices, 6]."""
    g = torch.Generator().manual_seed(seed)
    params = random_series_params(g, bleed_probability)
    hu, masks = render_series(params, slices, matrix, generator=g, device=device)
    return preprocess_torch(hu, windows, size), slice_labels(masks, 250.0 / matrix)


class _PhantomSeriesRender(Dataset):
    def __init__(self, seeds, slices, matrix, windows, size, bleed_probability):
        self.seeds, self.args = list(seeds), (slices, matrix, list(windows), size, bleed_probability)

    def __len__(self):
        return len(self.seeds)

    def __getitem__(self, index):
        torch.set_num_threads(1)
        tensors, labels = render_phantom_tensors(self.seeds[index], *self.args)
        return tensors.half(), labels, self.seeds[index]


class PhantomSlices(Dataset):
    """Slices of pre-rendered phantom series held in memory as float16 (series id = seed)."""

    def __init__(self, seeds: Sequence[int], slices: int, matrix: int, windows: Sequence[Window], size: int,
                 bleed_probability: float = 0.5, workers: int = 0, cache_dir: Optional[Path] = None, progress=None):
        images, labels, series = [], [], []
        todo = []
        for seed in seeds:
            cached = cache_dir / f"phantom_{seed}_{slices}_{matrix}_{size}.pt" if cache_dir else None
            if cached and cached.is_file():
                tensors, lab = torch.load(cached)
                images.append(tensors), labels.append(lab), series.extend([seed] * len(lab))
            else:
                todo.append(seed)
        render = _PhantomSeriesRender(todo, slices, matrix, windows, size, bleed_probability)
        loader = DataLoader(render, batch_size=None, num_workers=workers)
        for tensors, lab, seed in (progress(loader, total=len(todo)) if progress else loader):
            if cache_dir:
                cache_dir.mkdir(parents=True, exist_ok=True)
                torch.save((tensors, lab), cache_dir / f"phantom_{seed}_{slices}_{matrix}_{size}.pt")
            images.append(tensors), labels.append(lab), series.extend([seed] * len(lab))
        self.images = torch.cat(images) if images else torch.empty(0, len(windows), size, size, dtype=torch.half)
        self.labels = torch.cat(labels) if labels else torch.empty(0, len(CLASSES))
        self.series = series
        self.z = [index % slices for index in range(len(series))]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.images[index].float(), self.labels[index]
