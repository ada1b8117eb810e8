"""`reference` command: expected tensors for arbitrary DICOM files, for cross-checks.

The node's test suite runs it on real files and compares its own preprocessing with these
tensors, one `<SOPInstanceUID>.npy` (float32 [channels, size, size]) per input file.
"""
import json
from pathlib import Path
from typing import Iterable, List, Sequence

import numpy as np

from .contract import Window
from .preprocess import preprocess_file


def dicom_paths(inputs: Iterable[str]) -> List[Path]:
    """Files as given; folders expanded to the files under them, sorted."""
    paths: List[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            paths.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
    return paths


def write_reference_tensors(paths: Sequence[Path], windows: Sequence[Window], size: int, out: Path) -> dict:
    """Write one .npy per file; returns {file path: SOPInstanceUID} (also index.json)."""
    out.mkdir(parents=True, exist_ok=True)
    index = {}
    for path in paths:
        tensor, ds = preprocess_file(path, windows, size)
        uid = str(ds.SOPInstanceUID)
        np.save(out / f"{uid}.npy", tensor)
        index[str(path)] = uid
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index
