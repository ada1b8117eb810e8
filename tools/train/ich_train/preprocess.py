"""Reference preprocessing: DICOM pixels -> HU -> windows -> resize (DESIGN.md section 3).

The node implements the same steps in TypeScript; the golden fixtures in
test/fixtures/golden prove both agree. The pure functions here take arrays and header
values; `preprocess_file` adds the DICOM reading.

Order of operations on a slice (each step is a function below):
1. stored values: raw words shifted by HighBit, masked to BitsStored, sign-extended when
   PixelRepresentation is 1;
2. padding mask: stored values equal to PixelPaddingValue (or inside
   [PixelPaddingValue, PixelPaddingRangeLimit]) are remembered before anything changes them;
3. MONOCHROME1: every BitsStored bit is inverted (unsigned s -> 2^n - 1 - s, signed
   s -> -1 - s), so the image reads like MONOCHROME2 before rescaling;
4. RSNA 12-bit defect fix: BitsStored 12, PixelRepresentation 0 and RescaleIntercept > -100
   => add 1000 to stored values, subtract 4096 from values >= 4096, use intercept -1000;
5. HU = stored x RescaleSlope + RescaleIntercept (float64, then float32);
6. padding pixels become air, -1000 HU (below every default window, so they read 0);
7. each window (c, w): clip HU to [c - w/2, c + w/2] and scale to [0, 1];
8. each channel resized to size x size with cv2.INTER_LINEAR (half-pixel centres, no
   antialiasing); result float32 [channels, size, size].
"""
from pathlib import Path
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .contract import DEFAULT_SIZE, DEFAULT_WINDOWS, Window

AIR_HU = -1000.0
RSNA_DEFECT_INTERCEPT = -1000.0


def stored_values(
    words: np.ndarray, bits_stored: int, high_bit: int, pixel_representation: int
) -> np.ndarray:
    """Integer stored values from raw pixel words, as int32."""
    if not 1 <= bits_stored <= 16:
        raise ValueError(f"BitsStored {bits_stored} is not supported (1..16)")
    shift = high_bit + 1 - bits_stored
    if shift < 0:
        raise ValueError(f"HighBit {high_bit} is below BitsStored {bits_stored} - 1")
    mask = (1 << bits_stored) - 1
    # Work on the unsigned bit pattern, whatever dtype the decoder handed us.
    bits = words.astype(np.int64) & 0xFFFF
    values = (bits >> shift) & mask
    if pixel_representation == 1:
        sign = 1 << (bits_stored - 1)
        values = np.where(values >= sign, values - (1 << bits_stored), values)
    return values.astype(np.int32)


def padding_mask(
    stored: np.ndarray, padding_value: Optional[int], padding_range_limit: Optional[int]
) -> Optional[np.ndarray]:
    if padding_value is None:
        return None
    if padding_range_limit is None:
        return stored == padding_value
    low, high = sorted((padding_value, padding_range_limit))
    return (stored >= low) & (stored <= high)


def invert_monochrome1(stored: np.ndarray, bits_stored: int, pixel_representation: int) -> np.ndarray:
    if pixel_representation == 1:
        return -1 - stored
    return ((1 << bits_stored) - 1) - stored


def needs_rsna_fix(bits_stored: int, pixel_representation: int, intercept: float) -> bool:
    return bits_stored == 12 and pixel_representation == 0 and intercept > -100


def apply_rsna_fix(stored: np.ndarray) -> np.ndarray:
    fixed = stored + 1000
    return np.where(fixed >= 4096, fixed - 4096, fixed)


def hounsfield(
    stored: np.ndarray,
    *,
    slope: float,
    intercept: float,
    bits_stored: int,
    pixel_representation: int,
    monochrome1: bool = False,
    padding: Optional[np.ndarray] = None,
) -> np.ndarray:
    """HU image (float32) from stored values; steps 3-6 of the module docstring."""
    values = stored
    if monochrome1:
        values = invert_monochrome1(values, bits_stored, pixel_representation)
    if needs_rsna_fix(bits_stored, pixel_representation, intercept):
        values = apply_rsna_fix(values)
        intercept = RSNA_DEFECT_INTERCEPT
    hu = values.astype(np.float64) * float(slope) + float(intercept)
    if padding is not None:
        hu[padding] = AIR_HU
    return hu.astype(np.float32)


def apply_windows(hu: np.ndarray, windows: Sequence[Window]) -> np.ndarray:
    """[C, H, W] float32 in [0, 1], one channel per window, in the given order."""
    channels = []
    for window in windows:
        low = np.float32(window.low)
        width = np.float32(window.width)
        channels.append((np.clip(hu, low, low + width) - low) / width)
    return np.stack(channels).astype(np.float32)


def resize_channels(chw: np.ndarray, size: int) -> np.ndarray:
    return np.stack(
        [cv2.resize(channel, (size, size), interpolation=cv2.INTER_LINEAR) for channel in chw]
    ).astype(np.float32)


def tensor_from_hu(
    hu: np.ndarray, windows: Sequence[Window] = DEFAULT_WINDOWS, size: int = DEFAULT_SIZE
) -> np.ndarray:
    return resize_channels(apply_windows(hu, windows), size)


def hu_from_dataset(ds) -> np.ndarray:
    """HU image of a single-frame grayscale pydicom dataset whose pixels can be decoded."""
    from .dicom_pixels import pixel_words  # deferred: keeps the pure functions import-light

    bits_stored = int(ds.BitsStored)
    pixel_representation = int(ds.PixelRepresentation)
    stored = stored_values(
        pixel_words(ds), bits_stored, int(ds.get("HighBit", bits_stored - 1)), pixel_representation
    )
    padding = padding_mask(
        stored, _optional_int(ds, "PixelPaddingValue"), _optional_int(ds, "PixelPaddingRangeLimit")
    )
    return hounsfield(
        stored,
        slope=float(ds.get("RescaleSlope", 1) or 1),
        intercept=float(ds.get("RescaleIntercept", 0) or 0),
        bits_stored=bits_stored,
        pixel_representation=pixel_representation,
        monochrome1=str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1",
        padding=padding,
    )


def preprocess_file(
    path: Path, windows: Sequence[Window] = DEFAULT_WINDOWS, size: int = DEFAULT_SIZE
) -> Tuple[np.ndarray, object]:
    """(tensor [C, size, size], pydicom dataset) for one DICOM file."""
    from .dicom_pixels import read_decodable

    ds = read_decodable(Path(path))
    return tensor_from_hu(hu_from_dataset(ds), windows, size), ds


def _optional_int(ds, keyword: str) -> Optional[int]:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return int(value)
