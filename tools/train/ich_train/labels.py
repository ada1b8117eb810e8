"""Label tables: the RSNA 2019 long CSV and our own wide CSV.

RSNA (`stage_2_train.csv`): columns `ID,Label`, one row per image and class, IDs like
`ID_12cadc6af_epidural` (image ID = SOPInstanceUID). Duplicated rows exist and are dropped.

Wide (ours, written by `synth` and `labels`): one row per image,
`sop_instance_uid,path,patient_id,series_instance_uid,z,any,epidural,intraparenchymal,
intraventricular,subarachnoid,subdural`; `path` is relative to the CSV's folder.
"""
from pathlib import Path
from typing import Iterable, List, Optional

import pandas as pd

from .contract import CLASSES

WIDE_COLUMNS = ["sop_instance_uid", "path", "patient_id", "series_instance_uid", "z"] + CLASSES


def read_rsna_long(csv_path: Path) -> pd.DataFrame:
    """RSNA long CSV -> DataFrame indexed by image ID with the six classes, "any" first."""
    table = pd.read_csv(csv_path)
    if list(table.columns[:2]) != ["ID", "Label"]:
        raise ValueError(f"{csv_path}: expected columns ID,Label (RSNA format), got {list(table.columns)}")
    table = table.drop_duplicates("ID")
    parts = table["ID"].str.rsplit("_", n=1, expand=True)
    table = table.assign(image=parts[0], cls=parts[1])
    unknown = set(table["cls"]) - set(CLASSES)
    if unknown:
        raise ValueError(f"{csv_path}: unknown classes {sorted(unknown)}")
    wide = table.pivot(index="image", columns="cls", values="Label")[CLASSES]
    if wide.isna().any().any():
        missing = wide[wide.isna().any(axis=1)].index[:3].tolist()
        raise ValueError(f"{csv_path}: images without all six labels, e.g. {missing}")
    return wide.astype(int)


def write_rsna_long(wide: pd.DataFrame, csv_path: Path) -> None:
    """Inverse of read_rsna_long (wide DataFrame indexed by image ID)."""
    rows = [(f"{image}_{cls}", int(wide.at[image, cls])) for image in wide.index for cls in CLASSES]
    pd.DataFrame(rows, columns=["ID", "Label"]).to_csv(csv_path, index=False)


def read_wide(csv_path: Path) -> pd.DataFrame:
    table = pd.read_csv(csv_path, dtype={"sop_instance_uid": str, "patient_id": str, "series_instance_uid": str})
    missing = [c for c in ["sop_instance_uid", "path"] + CLASSES if c not in table.columns]
    if missing:
        raise ValueError(f"{csv_path}: missing columns {missing}; see docs/training.md for the wide format")
    table["path"] = [str((csv_path.parent / p).resolve()) for p in table["path"]]
    return table


def write_wide(rows: Iterable[dict], csv_path: Path) -> None:
    table = pd.DataFrame(list(rows))
    for column in WIDE_COLUMNS:
        if column not in table.columns:
            table[column] = "" if column not in CLASSES else 0
    table[WIDE_COLUMNS].to_csv(csv_path, index=False)


def label_folder(folder: Path, csv_path: Path, labels: Optional[pd.DataFrame] = None) -> int:
    """Wide CSV for every DICOM file under `folder`; labels from an RSNA table when given
    (images missing from it are left out), else all zeros (unlabelled)."""
    import pydicom

    rows: List[dict] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            continue
        uid = str(ds.SOPInstanceUID)
        if labels is not None and uid not in labels.index:
            continue
        values = labels.loc[uid].tolist() if labels is not None else [0] * len(CLASSES)
        position = ds.get("ImagePositionPatient")
        rows.append(
            {
                "sop_instance_uid": uid,
                "path": str(path.resolve().relative_to(csv_path.parent.resolve()))
                if path.resolve().is_relative_to(csv_path.parent.resolve())
                else str(path.resolve()),
                "patient_id": str(ds.get("PatientID", "")),
                "series_instance_uid": str(ds.get("SeriesInstanceUID", "")),
                "z": float(position[2]) if position else 0.0,
                **dict(zip(CLASSES, values)),
            }
        )
    write_wide(rows, csv_path)
    return len(rows)
