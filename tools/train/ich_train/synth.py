"""`synth` command: phantom series as DICOM files plus labels in both CSV formats.

Layout: `<out>/<series number>/<instance>.dcm` (CT Image Storage, 12-bit unsigned,
intercept -1024, explicit VR LE, valid 2.25 UIDs, geometry set), `<out>/labels.csv` (wide)
and `<out>/stage_2_train.csv` (RSNA long format, image ID = SOPInstanceUID).
"""
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .contract import CLASSES
from .dicom_write import PixelEncoding, SliceInfo, ct_dataset, encode_hu, save, uid_for
from .labels import write_rsna_long, write_wide
from .phantom import random_series_params, render_series, slice_labels

FOV_MM = 250.0
SLICE_SPACING_MM = 5.0  # most RSNA series (see docs/training.md: phantoms vs real data)
ENCODING = PixelEncoding(bits_stored=12, pixel_representation=0, intercept=-1024.0)


def write_phantom_series(out: Path, series: int, slices: int, matrix: int, seed: int, bleed_probability: float,
                         mass_effect: bool = True, progress=None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    indices = range(series)
    for index in progress(indices, desc="series") if progress else indices:
        series_seed = seed * 1_000_000 + index
        g = torch.Generator().manual_seed(series_seed)
        params = random_series_params(g, bleed_probability, mass_effect)
        hu, masks = render_series(params, slices, matrix, FOV_MM, generator=g)
        labels = slice_labels(masks, FOV_MM / matrix).int().numpy()
        rows += _write_series(out, index, series_seed, hu.numpy(), labels, slices, matrix)
    write_wide(rows, out / "labels.csv")
    wide = pd.DataFrame(rows).set_index("sop_instance_uid")[CLASSES]
    write_rsna_long(wide, out / "stage_2_train.csv")
    return len(rows)


def _write_series(out: Path, index: int, series_seed: int, hu: np.ndarray, labels: np.ndarray, slices: int, matrix: int):
    patient = f"PHANTOM{series_seed:08d}"
    study_uid = uid_for("phantom", patient, "study")
    series_uid = uid_for("phantom", patient, "series")
    pixel = FOV_MM / matrix
    z_positions = np.arange(slices) * SLICE_SPACING_MM
    folder = out / f"{index:04d}"
    rows = []
    for k in range(slices):
        sop_uid = uid_for("phantom", patient, str(k))
        info = SliceInfo(patient_id=patient, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid,
                         instance_number=k + 1, position=(-FOV_MM / 2, -FOV_MM / 2, float(z_positions[k])),
                         pixel_spacing=(pixel, pixel), slice_thickness=SLICE_SPACING_MM,
                         series_description="synthetic head CT phantom, not patient data")
        path = folder / f"{k + 1:04d}.dcm"
        save(ct_dataset(encode_hu(hu[k], ENCODING), ENCODING, info), path)
        rows.append({"sop_instance_uid": sop_uid, "path": str(path.relative_to(out)), "patient_id": patient,
                     "series_instance_uid": series_uid, "z": float(z_positions[k]),
                     **dict(zip(CLASSES, labels[k].tolist()))})
    return rows
