"""Datasets and splits of DICOM slices: RSNA layout, wide CSV, real backgrounds with inserted bleeds."""
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from .contract import CLASSES, Window
from .labels import read_rsna_long, read_wide
from .phantom_data import preprocess_torch
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


def dicom_files(folder: Path) -> List[Path]:
    return sorted(p for p in Path(folder).rglob("*.dcm") if p.is_file())


class RealBackgroundSlices(Dataset):
    """Real slices with synthetic bleeds inserted (realbg.py), `variants` draws per slice,
    held in memory as float16 model inputs. Series ids are the files' PatientID."""

    def __init__(self, paths: Sequence[Path], variants: int, windows: Sequence[Window], size: int, seed: int,
                 insert_probability: float = 0.6, progress=None):
        from .dicom_pixels import read_decodable
        from .preprocess import hu_from_dataset
        from .realbg import insert_lesions, labels_row

        images, labels, self.patients, self.ids = [], [], [], []
        items = list(enumerate(paths))
        for index, path in (progress(items, desc="real backgrounds") if progress else items):
            ds = read_decodable(Path(path))
            hu = hu_from_dataset(ds)
            pixel = float(ds.PixelSpacing[0]) if "PixelSpacing" in ds else 0.5
            for variant in range(variants):
                g = torch.Generator().manual_seed(seed * 1_000_003 + index * 97 + variant)
                inserted, present = insert_lesions(hu, pixel, g, insert_probability)
                tensor = preprocess_torch(torch.from_numpy(np.asarray(inserted, np.float32))[None], windows, size)[0]
                images.append(tensor.half())
                labels.append(labels_row(present))
                self.patients.append(str(ds.get("PatientID", path)))
                self.ids.append(f"{ds.SOPInstanceUID}-v{variant}")
        self.images = torch.stack(images) if images else torch.empty(0, len(windows), size, size, dtype=torch.half)
        self.labels = torch.tensor(labels, dtype=torch.float32).reshape(-1, len(CLASSES))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.images[index].float(), self.labels[index]
