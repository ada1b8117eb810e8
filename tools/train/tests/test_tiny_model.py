"""The committed test model for the node: contract, and it tells bleeding slices from normal ones."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO_ROOT
from ich_train.contract import CLASSES
from ich_train.export import contract_problems, read_metadata, run_onnx
from ich_train.metrics import binary_auc
from ich_train.preprocess import preprocess_file
from ich_train.synth import write_phantom_series

TINY = REPO_ROOT / "test" / "fixtures" / "models" / "tiny-ich.onnx"


def test_tiny_model_is_small_and_conforms():
    assert TINY.stat().st_size < 1_000_000
    assert contract_problems(TINY) == []
    meta = read_metadata(TINY)
    assert meta["ich.input"]["size"] == 64 and meta["ich.classes"] == CLASSES
    assert meta["ich.thresholds"] == {cls: 0.5 for cls in CLASSES}
    assert "not for clinical use" in meta["ich.model"]["intended_use"]


def test_tiny_model_scores_bleeding_slices_higher(tmp_path):
    # synth seed 77: series 0 has an intraparenchymal bleed on some slices, series 1 none.
    write_phantom_series(tmp_path, series=2, slices=24, matrix=512, seed=77, bleed_probability=0.5)
    table = pd.read_csv(tmp_path / "labels.csv")
    inputs = np.stack([preprocess_file(tmp_path / p, size=64)[0] for p in table["path"]])
    probs = run_onnx(TINY, inputs)
    if probs is None:
        pytest.skip("no onnxruntime (Python) or onnxruntime-node here")
    bleeding = table["any"].to_numpy() == 1
    assert table.groupby("series_instance_uid", sort=False)["any"].max().tolist() == [1, 0]
    assert binary_auc(bleeding, probs[:, 0]) >= 0.9
    assert probs[bleeding, 0].mean() > probs[~bleeding, 0].mean() + 0.4
