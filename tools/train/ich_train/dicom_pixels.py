"""Reading DICOM pixel data with pydicom, falling back to external decoders.

pydicom decodes uncompressed, deflated and RLE data by itself. JPEG lossless and JPEG-LS
need plug-ins that a Debian install lacks, so those files are first decompressed with
dcmtk (dcmdjpeg, dcmdjpls); JPEG 2000 and HTJ2K go through the node's dcmjs-codecs
(tools/train/ich_train/js/transcode.mjs). Every decoder used here is lossless, so the
result equals the encoder's input.
"""
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pydicom._uid_dict
from pydicom import config as pydicom_config

# RSNA files carry UIDs like "ID_4d28912ba6"; reading them must not warn once per file.
pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE

# pydicom 2.3 predates HTJ2K (2023): teach it the names so it reads and writes such files.
for _uid, _name, _keyword in (
    ("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", "HTJ2KLossless"),
    ("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)", "HTJ2KLosslessRPCL"),
    ("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", "HTJ2K"),
):
    pydicom._uid_dict.UID_dictionary.setdefault(_uid, (_name, "Transfer Syntax", "", "", _keyword))

EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
JPEG_SYNTAXES = {"1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}
JPEG_LS_SYNTAXES = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
JPEG_2000_SYNTAXES = {
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
}
TRANSCODE_SCRIPT = Path(__file__).parent / "js" / "transcode.mjs"


class DecodeError(RuntimeError):
    pass


def read_decodable(path: Path):
    """A dataset of `path` whose pixel_array pydicom can decode (decompressing if needed)."""
    ds = pydicom.dcmread(str(path), force=True)
    if "PixelData" not in ds:
        raise DecodeError(f"{path}: no PixelData")
    if int(ds.get("SamplesPerPixel", 1)) != 1 or int(ds.get("NumberOfFrames", 1) or 1) != 1:
        raise DecodeError(f"{path}: only single-frame grayscale images are supported")
    try:
        ds.pixel_array
        return ds
    except (NotImplementedError, RuntimeError, ValueError) as pydicom_error:
        syntax = str(ds.file_meta.TransferSyntaxUID)
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / "plain.dcm"
            decompress(Path(path), plain, syntax, pydicom_error)
            plain_ds = pydicom.dcmread(str(plain))
            plain_ds.pixel_array
            return plain_ds


def decompress(source: Path, target: Path, syntax: str, cause: Exception) -> None:
    """Write an uncompressed copy of `source` to `target` with an external decoder."""
    if syntax in JPEG_SYNTAXES:
        command = [_require_tool("dcmdjpeg", "dcmtk"), str(source), str(target)]
    elif syntax in JPEG_LS_SYNTAXES:
        command = [_require_tool("dcmdjpls", "dcmtk"), str(source), str(target)]
    elif syntax in JPEG_2000_SYNTAXES:
        command = [_require_tool("node", "Node.js"), str(TRANSCODE_SCRIPT), str(source), str(target), EXPLICIT_VR_LE]
    else:
        raise DecodeError(f"{source}: pydicom cannot decode transfer syntax {syntax}: {cause}")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise DecodeError(f"{source}: {command[0]} failed: {result.stderr.strip() or result.stdout.strip()}")


def pixel_words(ds) -> np.ndarray:
    """Raw pixel words of a decodable single-frame dataset, as pydicom returns them."""
    return np.asarray(ds.pixel_array)


def _require_tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if not found:
        raise DecodeError(f"decoding this transfer syntax needs `{name}` from {package} on PATH")
    return found
