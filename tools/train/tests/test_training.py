"""Two-step training on tiny phantoms, resume, and a contract-conforming ONNX export."""
import json
import shutil

import numpy as np
import onnx
import pytest
import torch

from ich_train.contract import CLASSES, METADATA_KEYS
from ich_train.export import contract_problems, export_checkpoint, read_metadata, run_onnx
from ich_train.models import IchNet, load_pretrained_backbone
from ich_train.train import TrainConfig, load_checkpoint, train

TINY = dict(arch="tiny", size=32, phantoms=4, phantom_slices=6, phantom_matrix=64, batch=4, lr=1e-3, workers=0, lr_schedule="cosine",
            threads=1, val_fraction=0.25)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    metrics = train(TrainConfig(out=str(out), epochs=5, max_steps=2, **TINY), log=lambda *_: None)
    return out, metrics


def test_two_steps_write_checkpoint_predictions_and_metrics(trained):
    out, metrics = trained
    state = torch.load(out / "checkpoint.pt")
    assert state["step"] == 2 and state["epoch"] == 1
    assert metrics["training"]["step"] == 2 and metrics["training"]["images_per_second"] > 0
    predictions = (out / "val_predictions.csv").read_text().splitlines()
    assert predictions[0] == "sop_instance_uid,series_instance_uid,z," + ",".join(CLASSES)
    assert len(predictions) == 1 + 6  # one validation series of six slices
    assert metrics["n_images"] == 6 and 0 < metrics["weighted_log_loss"] < 5


def test_resume_continues_from_the_checkpoint(trained, tmp_path):
    out, _ = trained
    config = TrainConfig(out=str(tmp_path), epochs=5, max_steps=3, resume=str(out / "checkpoint.pt"), **TINY)
    train(config, log=lambda *_: None)
    assert torch.load(tmp_path / "checkpoint.pt")["step"] == 3


def test_export_is_contract_conforming(trained, tmp_path):
    out, _ = trained
    path = tmp_path / "model.onnx"
    report = export_checkpoint(out / "checkpoint.pt", path, name="test", version="0.0.1",
                               intended_use="test model, not for clinical use", training_data="",
                               eval_json=None, threshold_policy="fixed:0.3")
    assert report["contract_problems"] == []
    meta = read_metadata(path)
    assert set(METADATA_KEYS) <= set(meta)
    assert meta["ich.classes"] == CLASSES
    assert meta["ich.input"] == {"name": "input", "layout": "NCHW", "size": 32, "resize": "bilinear"}
    assert meta["ich.output"] == {"name": "probs", "activation": "sigmoid"}
    assert meta["ich.thresholds"] == {cls: 0.3 for cls in CLASSES}
    assert meta["ich.model"]["intended_use"] == "test model, not for clinical use"
    assert onnx.load(str(path)).opset_import[0].version <= 17
    if report["torch_vs_onnx_max_abs_diff"] == "not measured: no onnxruntime here":
        pytest.skip("no onnxruntime (Python) or onnxruntime-node here: ONNX numbers not compared")
    assert report["torch_vs_onnx_max_abs_diff"] < 1e-5
    # Dynamic batch: batches of 1 and 3 run, outputs are probabilities.
    model, _, _ = load_checkpoint(out / "checkpoint.pt")
    for n in (1, 3):
        probs = run_onnx(path, np.random.default_rng(n).random((n, 3, 32, 32), dtype=np.float32))
        assert probs.shape == (n, 6) and np.all((probs > 0) & (probs < 1))


def test_flatten_head_matches_paper_shape():
    model = IchNet("resnet50", "flatten", 224)
    assert model.head[1].in_features == 7 * 7 * 2048


def test_pretrained_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load_pretrained_backbone(IchNet("resnet18", "gap", 64), "resnet18", tmp_path / "missing.pth")


def test_pretrained_local_weights_are_loaded(tmp_path):
    import torchvision

    source = torchvision.models.resnet18(weights=None)
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    model = IchNet("resnet18", "gap", 64)
    assert load_pretrained_backbone(model, "resnet18", tmp_path / "r18.pth") == len(source.state_dict())
    assert torch.equal(model.features[0].weight, source.conv1.weight)


def test_cosine_learning_rate_plan():
    from ich_train.train import learning_rate

    config = TrainConfig(out="x", lr=1e-3, lr_schedule="cosine")
    assert [learning_rate(config, s, 100) for s in (0, 50, 100, 150)] == pytest.approx([1e-3, 5e-4, 0.0, 0.0])
    assert learning_rate(TrainConfig(out="x", lr=1e-3), 50, 100) == 1e-3
