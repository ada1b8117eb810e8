"""Golden preprocessing fixtures shared with the node (test/fixtures/golden).

`python -m ich_train golden --out DIR` writes generated DICOM files (synthetic head-like
content, no patient data), the reference tensor of each as .npy float32 [3, size, size], and
manifest.json. Compressed cases are lossless encodings of an uncompressed source made with
dcmtk (deflate, RLE, JPEG lossless, JPEG-LS) or dcmjs-codecs (JPEG 2000, HTJ2K); their
expected tensor is the reference output on that source, and generation fails unless the
compressed file decodes back to the source's exact stored values.
"""
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
import pydicom
from pydicom.encaps import generate_pixel_data_frame
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from .contract import DEFAULT_WINDOWS
from .dicom_pixels import TRANSCODE_SCRIPT, read_decodable
from .dicom_write import PixelEncoding, SliceInfo, ct_dataset, encapsulated_copy, encode_hu, save, uid_for
from .preprocess import preprocess_file

DEFLATED = "1.2.840.10008.1.2.1.99"
RLE = "1.2.840.10008.1.2.5"
JPEG_LOSSLESS_P14 = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"

# dcmtk commands per syntax: the file to encode and the output are appended.
DCMTK_ENCODERS = {
    DEFLATED: ["dcmconv", "+td"],
    RLE: ["dcmcrle"],
    JPEG_LOSSLESS_P14: ["dcmcjpeg", "+el", "+sv", "6"],
    JPEG_LOSSLESS_SV1: ["dcmcjpeg", "+e1"],
    JPEG_LS_LOSSLESS: ["dcmcjpls", "+el"],
}
NODE_ENCODED = {JPEG_2000_LOSSLESS, HTJ2K_LOSSLESS}

U12 = PixelEncoding(bits_stored=12, pixel_representation=0, intercept=-1024.0)
S16 = PixelEncoding(bits_stored=16, pixel_representation=1, intercept=-1024.0)


@dataclass(frozen=True)
class Source:
    """An uncompressed golden file: HU content, encoding, file syntax."""

    name: str
    description: str
    shape: tuple
    encoding: PixelEncoding
    syntax: str = ExplicitVRLittleEndian
    size: int = 64
    # Maps the intended HU image to stored values; default is the inverse rescale.
    to_stored: Optional[Callable[[np.ndarray], np.ndarray]] = None
    # Pixels outside the scanner's field of view get this HU (None: leave air).
    outside_fov_hu: Optional[float] = None


def _defect_stored(hu: np.ndarray) -> np.ndarray:
    # Inverse of the RSNA fix: stored values that only the fix turns back into `hu`.
    return np.mod(np.clip(np.rint(hu), -1000, 3095).astype(np.int32), 4096)


def _monochrome1_stored(hu: np.ndarray) -> np.ndarray:
    return 4095 - encode_hu(hu, U12)


SOURCES: List[Source] = [
    Source("u12_explicit", "12-bit unsigned, intercept -1024, explicit VR LE", (128, 128), U12),
    Source("u12_implicit", "12-bit unsigned, intercept -1024, implicit VR LE", (128, 128), U12, ImplicitVRLittleEndian),
    Source(
        "u12_defect",
        "12-bit unsigned with RSNA defect (intercept 0 > -100, needs the fix)",
        (128, 128),
        PixelEncoding(bits_stored=12, pixel_representation=0, intercept=0.0),
        to_stored=_defect_stored,
    ),
    Source(
        "s16_intercept0",
        "16-bit signed, intercept 0, -3024 outside the field of view",
        (128, 128),
        PixelEncoding(bits_stored=16, pixel_representation=1, intercept=0.0),
        outside_fov_hu=-3024.0,
    ),
    Source(
        "monochrome1",
        "12-bit unsigned MONOCHROME1 (all 12 bits inverted), intercept -1024",
        (128, 128),
        PixelEncoding(bits_stored=12, pixel_representation=0, intercept=-1024.0, photometric="MONOCHROME1"),
        to_stored=_monochrome1_stored,
    ),
    Source(
        "padding",
        "16-bit unsigned, PixelPaddingValue 63536 outside the field of view (maps to air)",
        (128, 128),
        PixelEncoding(bits_stored=16, pixel_representation=0, intercept=-1024.0, padding_value=63536),
        outside_fov_hu=63536 - 1024.0,
    ),
    Source(
        "slope_half",
        "16-bit unsigned, RescaleSlope 0.5, intercept -1024",
        (128, 128),
        PixelEncoding(bits_stored=16, pixel_representation=0, slope=0.5, intercept=-1024.0),
    ),
    Source("nonsquare", "non-square 100 rows x 120 columns, 16-bit signed", (100, 120), S16),
    Source("real512_s16", "512x512 16-bit signed -> 224, explicit VR LE", (512, 512), S16, size=224),
    Source("real512_u12", "512x512 12-bit unsigned -> 224, implicit VR LE", (512, 512), U12, ImplicitVRLittleEndian, size=224),
]

# (case name, source name, transfer syntax, description)
COMPRESSED = [
    ("u12_deflated", "u12_explicit", DEFLATED, "Deflated Explicit VR LE"),
    ("u12_rle", "u12_explicit", RLE, "RLE lossless"),
    ("s16_rle", "nonsquare", RLE, "RLE lossless, 16-bit signed, non-square"),
    ("u12_jpeg_p14", "u12_explicit", JPEG_LOSSLESS_P14, "JPEG lossless process 14, selection value 6"),
    ("u12_jpeg_sv1", "u12_explicit", JPEG_LOSSLESS_SV1, "JPEG lossless process 14 selection value 1"),
    ("u12_jpegls", "u12_explicit", JPEG_LS_LOSSLESS, "JPEG-LS lossless"),
    ("u12_j2k", "u12_explicit", JPEG_2000_LOSSLESS, "JPEG 2000 lossless"),
    ("s16_j2k", "nonsquare", JPEG_2000_LOSSLESS, "JPEG 2000 lossless, 16-bit signed, non-square"),
    ("u12_htj2k", "u12_explicit", HTJ2K_LOSSLESS, "HTJ2K lossless"),
]


def head_like_hu(shape: tuple, seed: int) -> np.ndarray:
    """Deterministic head-like HU image: air, skull, brain, ventricles, a bleed, noise.

    Deliberately independent of the phantom generator so the fixtures never change when the
    phantoms improve.
    """
    rows, cols = shape
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    ny = (y - rows / 2 + 0.5) / (rows / 2)
    nx = (x - cols / 2 + 0.5) / (cols / 2)
    radius = np.sqrt((nx / 0.78) ** 2 + (ny / 0.9) ** 2)
    hu = np.full(shape, -1000.0)
    hu[radius < 1.0] = 1400.0  # skull
    hu[radius < 0.9] = 32.0  # brain
    hu[(radius < 0.9) & (radius > 0.75)] = 38.0  # cortex
    hu[((nx - 0.12) / 0.1) ** 2 + (ny / 0.3) ** 2 < 1] = 6.0  # ventricles
    hu[((nx + 0.12) / 0.1) ** 2 + (ny / 0.3) ** 2 < 1] = 6.0
    hu[((nx + 0.35) / 0.15) ** 2 + ((ny - 0.3) / 0.12) ** 2 < 1] = 70.0  # bleed
    hu += rng.normal(0.0, 6.0, shape) * (radius < 1.0)
    return hu


def outside_fov(shape: tuple) -> np.ndarray:
    rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    return (y - rows / 2 + 0.5) ** 2 + (x - cols / 2 + 0.5) ** 2 > (min(rows, cols) / 2) ** 2


def source_dataset(source: Source, seed: int):
    hu = head_like_hu(source.shape, seed)
    if source.outside_fov_hu is not None:
        hu[outside_fov(source.shape)] = source.outside_fov_hu
    stored = source.to_stored(hu) if source.to_stored else encode_hu(hu, source.encoding)
    info = SliceInfo(
        patient_id="GOLDEN",
        study_uid=uid_for("golden", "study"),
        series_uid=uid_for("golden", "series"),
        sop_uid=uid_for("golden", source.name),
        pixel_spacing=(250.0 / source.shape[0], 250.0 / source.shape[1]),
        series_description="golden preprocessing fixture",
    )
    return ct_dataset(stored, source.encoding, info)


def encode_compressed(source_path: Path, target: Path, syntax: str, sop_uid: str) -> None:
    """Losslessly re-encode `source_path` into `target` with transfer syntax `syntax`."""
    if syntax in DCMTK_ENCODERS:
        command = DCMTK_ENCODERS[syntax] + [str(source_path), str(target)]
        subprocess.run(command, check=True, capture_output=True)
        return
    if syntax not in NODE_ENCODED:
        raise ValueError(f"no encoder for {syntax}")
    with tempfile.TemporaryDirectory() as tmp:
        encoded = Path(tmp) / "encoded.dcm"
        subprocess.run(
            ["node", str(TRANSCODE_SCRIPT), str(source_path), str(encoded), syntax], check=True, capture_output=True
        )
        # dcmjs writes a Pixel Data VR that dcmtk warns about; keep only its codestream and
        # re-encapsulate it with pydicom into a copy of the source's header.
        frame = next(generate_pixel_data_frame(pydicom.dcmread(str(encoded)).PixelData))
    copy = encapsulated_copy(pydicom.dcmread(str(source_path)), frame, syntax)
    copy.SOPInstanceUID = copy.file_meta.MediaStorageSOPInstanceUID = sop_uid
    copy.save_as(str(target), write_like_original=False)


def stored_pixels(path: Path) -> np.ndarray:
    return np.asarray(read_decodable(path).pixel_array)


def generate(out: Path) -> dict:
    """Write every golden case to `out` and return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    tensors = {}
    for seed, source in enumerate(SOURCES):
        path = out / f"{source.name}.dcm"
        save(source_dataset(source, seed), path, source.syntax)
        tensor, _ = preprocess_file(path, DEFAULT_WINDOWS, source.size)
        tensors[source.name] = (tensor, source)
        np.save(out / f"{source.name}.npy", tensor)
        cases.append(_case(source.name, source.size, source.syntax, source.description))
    for name, source_name, syntax, description in COMPRESSED:
        tensor, source = tensors[source_name]
        path = out / f"{name}.dcm"
        encode_compressed(out / f"{source_name}.dcm", path, syntax, uid_for("golden", name))
        if not np.array_equal(stored_pixels(path), stored_pixels(out / f"{source_name}.dcm")):
            raise RuntimeError(f"{name}: {syntax} encoding is not lossless")
        np.save(out / f"{name}.npy", tensor)
        cases.append(
            _case(name, source.size, syntax, f"{description}; lossless encoding of {source_name}.dcm ({source.description})")
        )
    manifest = {"windows": [w.to_json() for w in DEFAULT_WINDOWS], "cases": cases}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _case(name: str, size: int, syntax: str, description: str) -> dict:
    return {
        "name": name,
        "file": f"{name}.dcm",
        "expected": f"{name}.npy",
        "size": size,
        "transferSyntax": syntax,
        "description": description,
    }


def missing_encoders() -> List[str]:
    tools = {command[0] for command in DCMTK_ENCODERS.values()} | {"node"}
    return sorted(tool for tool in tools if shutil.which(tool) is None)
