"""Command-level checks: eval outputs, RSNA layout, weights-only int8, real data (skipped without it)."""
import json
import shutil

import numpy as np
import onnx
import pandas as pd
import pytest

from conftest import REPO_ROOT, SHARED_DATA
from ich_train.cli import main
from ich_train.contract import CLASSES, DEFAULT_WINDOWS
from ich_train.data import rsna_table
from ich_train.export import run_onnx
from ich_train.phantom_data import render_phantom_tensors
from ich_train.quantize import quantize_weights
from ich_train.synth import write_phantom_series

TINY = REPO_ROOT / "test" / "fixtures" / "models" / "tiny-ich.onnx"


def test_eval_writes_json_markdown_and_curves_from_rsna_labels(tmp_path):
    ids = ["ID_a", "ID_b", "ID_c", "ID_d"]
    labels = ["ID,Label"] + [f"{i}_{c},{int(c == 'any' and i in ('ID_a', 'ID_c'))}" for i in ids for c in CLASSES]
    (tmp_path / "labels.csv").write_text("\n".join(labels) + "\n")
    predictions = pd.DataFrame({"sop_instance_uid": ids, "series_instance_uid": ["s1", "s1", "s2", "s2"], "z": 0.0})
    for cls in CLASSES:
        predictions[cls] = [0.9, 0.4, 0.35, 0.1] if cls == "any" else 0.2
    predictions.to_csv(tmp_path / "preds.csv", index=False)
    assert main(["eval", "--predictions", str(tmp_path / "preds.csv"), "--labels", str(tmp_path / "labels.csv"),
                 "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["roc_auc"]["any"] == pytest.approx(0.75) and metrics["series"]["n_series"] == 2
    assert "| recall | 0.500 |" in (tmp_path / "eval" / "metrics.md").read_text()
    assert (tmp_path / "eval" / "roc.png").stat().st_size > 1000 and (tmp_path / "eval" / "pr.png").is_file()


def test_eval_rejects_unmatched_ids(tmp_path):
    pd.DataFrame({"sop_instance_uid": ["x"], **{c: [0.5] for c in CLASSES}}).to_csv(tmp_path / "p.csv", index=False)
    pd.DataFrame({"sop_instance_uid": ["y"], **{c: [1] for c in CLASSES}}).to_csv(tmp_path / "l.csv", index=False)
    assert main(["eval", "--predictions", str(tmp_path / "p.csv"), "--labels", str(tmp_path / "l.csv"),
                 "--out", str(tmp_path / "e")]) == 2


def test_rsna_layout_reads_flat_folder_and_headers(tmp_path):
    write_phantom_series(tmp_path / "synth", series=2, slices=3, matrix=64, seed=4, bleed_probability=1.0)
    wide = pd.read_csv(tmp_path / "synth" / "labels.csv")
    flat = tmp_path / "stage_2_train"
    flat.mkdir()
    for uid, path in zip(wide["sop_instance_uid"], wide["path"]):
        shutil.copy(tmp_path / "synth" / path, flat / f"{uid}.dcm")
    table = rsna_table(flat, tmp_path / "synth" / "stage_2_train.csv")
    assert len(table) == 6 and table["patient_id"].nunique() == 2
    merged = table.set_index("sop_instance_uid").loc[wide["sop_instance_uid"]]
    assert merged[CLASSES].to_numpy().tolist() == wide[CLASSES].to_numpy().tolist()
    assert merged["z"].tolist() == wide["z"].tolist()


def test_weights_only_int8_keeps_probabilities(tmp_path):
    proto = onnx.load(str(TINY))
    assert quantize_weights(proto) == 6  # four convolutions, the hidden and the output layer
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp_path / "q.onnx"))
    assert (tmp_path / "q.onnx").stat().st_size < TINY.stat().st_size / 3
    tensors, _ = render_phantom_tensors(31, 8, 256, DEFAULT_WINDOWS, 64, bleed_probability=1.0)
    inputs = tensors.numpy()
    before, after = run_onnx(TINY, inputs), run_onnx(tmp_path / "q.onnx", inputs)
    if before is None:
        pytest.skip("no onnxruntime (Python) or onnxruntime-node here")
    assert float(np.abs(before - after).max()) < 0.02


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data (real RSNA slices) is absent")
def test_reference_on_real_slices(tmp_path):
    files = sorted((SHARED_DATA / "rsna-series-jpegls").rglob("*.dcm"))[:2] + sorted((SHARED_DATA / "rsna-edge-cases").glob("*.dcm"))[:2]
    if shutil.which("dcmdjpls") is None:
        pytest.skip("JPEG-LS real files need dcmdjpls (dcmtk)")
    assert main(["reference", *map(str, files), "--size", "224", "--out", str(tmp_path)]) == 0
    index = json.loads((tmp_path / "index.json").read_text())
    assert len(index) == 4
    for uid in index.values():
        tensor = np.load(tmp_path / f"{uid}.npy")
        assert tensor.shape == (3, 224, 224) and tensor.dtype == np.float32
        assert 0.0 <= tensor.min() and tensor.max() <= 1.0 and tensor[2].max() > 0.5  # skull in the bone window


def test_labels_command_lists_a_dicom_folder_with_rsna_labels(tmp_path):
    write_phantom_series(tmp_path / "s", series=1, slices=3, matrix=64, seed=6, bleed_probability=1.0)
    (tmp_path / "s" / "notes.txt").write_text("not DICOM")
    assert main(["labels", str(tmp_path / "s"), "--out", str(tmp_path / "s" / "again.csv"),
                 "--rsna-csv", str(tmp_path / "s" / "stage_2_train.csv")]) == 0
    again = pd.read_csv(tmp_path / "s" / "again.csv").sort_values("z").reset_index(drop=True)
    original = pd.read_csv(tmp_path / "s" / "labels.csv").sort_values("z").reset_index(drop=True)
    assert again.equals(original)
