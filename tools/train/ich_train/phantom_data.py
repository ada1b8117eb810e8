"""Phantom training data rendered in memory. Imports only torch: the GPU machine lacks
pydicom, OpenCV, pandas and scikit-learn."""
from pathlib import Path
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .contract import CLASSES, Window
from .phantom import random_series_params, render_series, slice_labels


def preprocess_torch(hu: torch.Tensor, windows: Sequence[Window], size: int) -> torch.Tensor:
    """Batched windows + bilinear resize of HU images [N, H, W] -> [N, C, size, size].

    Same arithmetic as preprocess.tensor_from_hu (torch's half-pixel bilinear without
    antialiasing equals cv2.INTER_LINEAR); used where phantoms are rendered on the fly."""
    channels = [(hu.clamp(w.low, w.low + w.width) - w.low) / w.width for w in windows]
    stacked = torch.stack(channels, dim=1)
    if stacked.shape[-2:] == (size, size):
        return stacked
    return F.interpolate(stacked, size=(size, size), mode="bilinear", align_corners=False)


def render_phantom_tensors(seed: int, slices: int, matrix: int, windows: Sequence[Window], size: int,
                           bleed_probability: float = 0.5, device: str = "cpu") -> Tuple[torch.Tensor, torch.Tensor]:
    """One phantom series as model inputs [slices, C, size, size] and labels [slices, 6]."""
    g = torch.Generator().manual_seed(seed)
    params = random_series_params(g, bleed_probability)
    hu, masks = render_series(params, slices, matrix, generator=g, device=device)
    return preprocess_torch(hu, windows, size), slice_labels(masks, 250.0 / matrix)


class _PhantomSeriesRender(Dataset):
    def __init__(self, seeds, slices, matrix, windows, size, bleed_probability, device):
        self.seeds, self.args = list(seeds), (slices, matrix, list(windows), size, bleed_probability, device)

    def __len__(self):
        return len(self.seeds)

    def __getitem__(self, index):
        tensors, labels = render_phantom_tensors(self.seeds[index], *self.args)
        return tensors.half().cpu(), labels.cpu(), self.seeds[index]


def _one_thread_per_worker(_worker_id: int) -> None:
    # Each worker renders a whole series; more threads per worker would only oversubscribe.
    torch.set_num_threads(1)


class PhantomSlices(Dataset):
    """Slices of pre-rendered phantom series held in memory as float16 (series id = seed)."""

    def __init__(self, seeds: Sequence[int], slices: int, matrix: int, windows: Sequence[Window], size: int,
                 bleed_probability: float = 0.5, workers: int = 0, cache_dir: Optional[Path] = None, progress=None,
                 device: str = "cpu"):
        images, labels, series = [], [], []
        todo = []
        for seed in seeds:
            cached = cache_dir / f"phantom_{seed}_{slices}_{matrix}_{size}.pt" if cache_dir else None
            if cached and cached.is_file():
                tensors, lab = torch.load(cached)
                images.append(tensors), labels.append(lab), series.extend([seed] * len(lab))
            else:
                todo.append(seed)
        render = _PhantomSeriesRender(todo, slices, matrix, windows, size, bleed_probability, device)
        # CUDA cannot be used from forked workers; on a GPU one process renders fast enough.
        loader = DataLoader(render, batch_size=None, num_workers=0 if device != "cpu" else workers,
                            worker_init_fn=_one_thread_per_worker)
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
