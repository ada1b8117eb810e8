"""The reference reproduces every shared golden fixture, and the generator has not drifted."""
import json
import shutil

import numpy as np
import pytest

from conftest import GOLDEN_DIR
from ich_train.contract import windows_from_json
from ich_train.dicom_pixels import JPEG_2000_SYNTAXES, JPEG_LS_SYNTAXES, JPEG_SYNTAXES
from ich_train.golden import generate, missing_encoders
from ich_train.preprocess import preprocess_file

MANIFEST = json.loads((GOLDEN_DIR / "manifest.json").read_text())
EXTERNAL_DECODER = {
    **{syntax: "dcmdjpeg" for syntax in JPEG_SYNTAXES},
    **{syntax: "dcmdjpls" for syntax in JPEG_LS_SYNTAXES},
    **{syntax: "node" for syntax in JPEG_2000_SYNTAXES},
}


def test_manifest_has_every_required_case():
    syntaxes = {case["transferSyntax"] for case in MANIFEST["cases"]}
    for required in ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.5",
                     "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
                     "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.201"]:
        assert required in syntaxes
    assert {"u12_defect", "monochrome1", "padding", "slope_half", "nonsquare", "s16_intercept0"} <= {
        case["name"] for case in MANIFEST["cases"]
    }


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=lambda case: case["name"])
def test_reference_reproduces_golden_tensor(case):
    decoder = EXTERNAL_DECODER.get(case["transferSyntax"])
    if decoder and shutil.which(decoder) is None:
        pytest.skip(f"{case['transferSyntax']} needs {decoder}, not installed here")
    windows = windows_from_json(MANIFEST["windows"])
    tensor, _ = preprocess_file(GOLDEN_DIR / case["file"], windows, case["size"])
    expected = np.load(GOLDEN_DIR / case["expected"])
    assert expected.dtype == np.float32 and expected.shape == (3, case["size"], case["size"])
    assert float(np.abs(tensor - expected).max()) <= 1e-4


def test_generator_reproduces_committed_fixtures(tmp_path):
    if missing_encoders():
        pytest.skip(f"golden generation needs {missing_encoders()}")
    manifest = generate(tmp_path)
    assert manifest == MANIFEST
    for case in manifest["cases"]:
        assert np.array_equal(np.load(tmp_path / case["expected"]), np.load(GOLDEN_DIR / case["expected"]))
