"""Building and saving CT Image Storage objects with pydicom (phantoms, golden fixtures)."""
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    PYDICOM_IMPLEMENTATION_UID,
    generate_uid,
)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


@dataclass(frozen=True)
class PixelEncoding:
    """How HU values become stored integers (BitsAllocated is always 16)."""

    bits_stored: int = 12
    pixel_representation: int = 0
    slope: float = 1.0
    intercept: float = -1024.0
    photometric: str = "MONOCHROME2"
    padding_value: Optional[int] = None

    def stored_range(self):
        if self.pixel_representation == 1:
            return -(1 << (self.bits_stored - 1)), (1 << (self.bits_stored - 1)) - 1
        return 0, (1 << self.bits_stored) - 1


@dataclass
class SliceInfo:
    """Identity and geometry of one axial slice."""

    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str
    instance_number: int = 1
    position: Sequence[float] = (-125.0, -125.0, 0.0)
    pixel_spacing: Sequence[float] = (0.48828125, 0.48828125)
    slice_thickness: float = 5.0
    series_description: str = "synthetic head CT phantom"
    extra: dict = field(default_factory=dict)


def encode_hu(hu: np.ndarray, encoding: PixelEncoding) -> np.ndarray:
    """Stored values (int32) that decode back to `hu`, clipped to the representable range."""
    stored = np.rint((hu.astype(np.float64) - encoding.intercept) / encoding.slope)
    low, high = encoding.stored_range()
    return np.clip(stored, low, high).astype(np.int32)


def ct_dataset(stored: np.ndarray, encoding: PixelEncoding, info: SliceInfo) -> FileDataset:
    """A CT Image Storage dataset holding `stored` (2-D int array) uncompressed."""
    rows, columns = stored.shape
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = info.sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = info.sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "ich-triage phantom"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "SYNTHETIC HEAD CT"
    ds.SeriesDescription = info.series_description
    ds.PatientName = f"PHANTOM^{info.patient_id}"
    ds.PatientID = info.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "HEAD"
    ds.SliceThickness = _ds(info.slice_thickness)
    ds.KVP = "120"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = info.study_uid
    ds.SeriesInstanceUID = info.series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = info.instance_number
    ds.ImagePositionPatient = [_ds(v) for v in info.position]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[info.study_uid, "frame"])
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = _ds(info.position[2])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = encoding.photometric
    ds.Rows = rows
    ds.Columns = columns
    ds.PixelSpacing = [_ds(v) for v in info.pixel_spacing]
    ds.BitsAllocated = 16
    ds.BitsStored = encoding.bits_stored
    ds.HighBit = encoding.bits_stored - 1
    ds.PixelRepresentation = encoding.pixel_representation
    if encoding.padding_value is not None:
        ds.add_new(0x00280120, "SS" if encoding.pixel_representation else "US", encoding.padding_value)
    ds.WindowCenter = "40"
    ds.WindowWidth = "80"
    ds.RescaleIntercept = _ds(encoding.intercept)
    ds.RescaleSlope = _ds(encoding.slope)
    ds.RescaleType = "HU"
    for keyword, value in info.extra.items():
        setattr(ds, keyword, value)
    words = stored.astype(np.int16 if encoding.pixel_representation else np.uint16)
    ds.PixelData = np.ascontiguousarray(words).tobytes()
    return ds


def save(ds: FileDataset, path: Path, transfer_syntax: str = ExplicitVRLittleEndian) -> None:
    """Write `ds` uncompressed in implicit or explicit VR little endian."""
    if transfer_syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        raise ValueError(f"save() writes uncompressed syntaxes only, not {transfer_syntax}")
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.is_little_endian = True
    ds.is_implicit_VR = transfer_syntax == ImplicitVRLittleEndian
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), write_like_original=False)


def encapsulated_copy(ds: FileDataset, frame: bytes, transfer_syntax: str) -> FileDataset:
    """Copy of `ds` whose pixel data is one already-compressed frame (padded to even length)."""
    copy = pydicom.dcmread(_to_bytes_io(ds))
    copy.file_meta.TransferSyntaxUID = transfer_syntax
    copy.is_little_endian = True
    copy.is_implicit_VR = False
    copy.PixelData = pydicom.encaps.encapsulate([frame])
    copy["PixelData"].VR = "OB"
    copy["PixelData"].is_undefined_length = True
    return copy


def uid_for(*parts: str) -> str:
    """Deterministic 2.25 UID derived from `parts` (stable fixtures and reruns)."""
    return generate_uid(prefix=None, entropy_srcs=list(parts))


def today() -> str:
    return datetime.date.today().isoformat()


def _ds(value: float) -> str:
    """DS text of at most 16 characters."""
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _to_bytes_io(ds: FileDataset):
    import io

    buffer = io.BytesIO()
    ds.save_as(buffer, write_like_original=False)
    buffer.seek(0)
    return buffer
