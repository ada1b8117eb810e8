"""Label formats, splits, phantoms and the torch preprocessing twin."""
import json

import numpy as np
import pandas as pd
import pydicom
import pytest
import torch

from conftest import GOLDEN_DIR
from ich_train.contract import CLASSES, DEFAULT_WINDOWS
from ich_train.data import split_by_group, split_by_image
from ich_train.phantom_data import preprocess_torch
from ich_train.labels import read_rsna_long, read_wide
from ich_train.phantom import Lesion, random_series_params, render_series, slice_labels
from ich_train.preprocess import hu_from_dataset, tensor_from_hu
from ich_train.synth import write_phantom_series


def test_rsna_long_csv_drops_duplicates_and_orders_any_first(tmp_path):
    rows = ["ID,Label"] + [f"ID_a_{c},{int(c == 'subdural' or c == 'any')}" for c in reversed(CLASSES)]
    rows += ["ID_a_any,1"] + [f"ID_b_{c},0" for c in CLASSES]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    wide = read_rsna_long(tmp_path / "train.csv")
    assert list(wide.columns) == CLASSES
    assert wide.loc["ID_a"].tolist() == [1, 0, 0, 0, 0, 1] and wide.loc["ID_b"].sum() == 0


def test_rsna_long_csv_rejects_other_formats(tmp_path):
    (tmp_path / "x.csv").write_text("image,label\nID_a_any,1\n")
    with pytest.raises(ValueError, match="ID,Label"):
        read_rsna_long(tmp_path / "x.csv")


def test_patient_split_never_shares_a_patient():
    patients = [f"p{i // 5}" for i in range(100)]
    test = split_by_group(patients, 0.1, seed=3)
    assert 10 <= test.sum() <= 14
    assert not set(np.array(patients)[test]) & set(np.array(patients)[~test])
    assert split_by_image(100, 0.1, seed=3).sum() == 10


def test_torch_preprocessing_matches_reference_on_golden():
    ds = pydicom.dcmread(str(GOLDEN_DIR / "real512_s16.dcm"))
    hu = hu_from_dataset(ds)
    reference = tensor_from_hu(hu, DEFAULT_WINDOWS, 224)
    twin = preprocess_torch(torch.from_numpy(hu)[None], DEFAULT_WINDOWS, 224)[0].numpy()
    assert float(np.abs(reference - twin).max()) <= 1e-4


def test_phantom_labels_follow_lesion_masks():
    g = torch.Generator().manual_seed(5)
    params = random_series_params(g, bleed_probability=0)
    params.lesions = [Lesion("epidural", 0.4, 0.6, angle=0.0, size=20, span=0.5, hu=70)]
    hu, masks = render_series(params, 10, 256, generator=g)
    labels = slice_labels(masks, 250 / 256)
    heights = torch.linspace(0.08, 0.95, 10)
    inside = (heights > 0.42) & (heights < 0.58)
    assert labels[inside, 0].eq(1).all() and labels[inside, 1].eq(1).all()
    assert labels[(heights < 0.38) | (heights > 0.62)].sum() == 0
    blood = hu[masks["epidural"]]
    assert 50 < float(blood.median()) < 95  # partial volume with the skull pulls edge pixels up
    skull = hu[hu > 600]
    assert skull.numel() > 0 and float(hu.min()) >= -1100


def test_synth_writes_ct_series_with_both_label_files(tmp_path):
    count = write_phantom_series(tmp_path, series=2, slices=4, matrix=64, seed=9, bleed_probability=1.0)
    assert count == 8
    wide = read_wide(tmp_path / "labels.csv")
    long = read_rsna_long(tmp_path / "stage_2_train.csv")
    assert long.loc[wide["sop_instance_uid"]].to_numpy().tolist() == wide[CLASSES].to_numpy().tolist()
    ds = pydicom.dcmread(wide["path"][0])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" and ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert ds.SOPInstanceUID.startswith("2.25.") and ds.Modality == "CT"
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert sorted(wide["z"].unique().tolist()) == [0.0, 5.0, 10.0, 15.0]
    assert wide.groupby("series_instance_uid")["patient_id"].nunique().eq(1).all()
    hu = hu_from_dataset(ds)
    assert float(hu.min()) >= -1024 and float(hu.max()) > 1000  # air and skull survive the 12-bit encoding
