"""Reference preprocessing: hand-computed cases for each step."""
import numpy as np
import pytest

from ich_train.contract import DEFAULT_WINDOWS, Window
from ich_train.preprocess import (
    apply_windows,
    hounsfield,
    padding_mask,
    resize_channels,
    stored_values,
)


def test_stored_values_masks_unsigned_and_sign_extends_signed():
    words = np.array([0xF123, 0x0FFF, 0x0800], dtype=np.uint16)
    assert stored_values(words, 12, 11, 0).tolist() == [0x123, 4095, 2048]
    assert stored_values(words, 12, 11, 1).tolist() == [0x123, -1, -2048]
    assert stored_values(np.array([-2000], dtype=np.int16), 16, 15, 1).tolist() == [-2000]


def test_stored_values_rejects_bad_header():
    with pytest.raises(ValueError, match="HighBit"):
        stored_values(np.zeros(2, np.uint16), 12, 5, 0)


def test_rsna_fix_applies_only_to_12_bit_unsigned_with_high_intercept():
    # (s + 1000) wraps at 4096, then intercept -1000: 3096 -> 4096 -> 0 -> -1000 HU.
    stored = np.array([3096, 40, 0], dtype=np.int32)
    fixed = hounsfield(stored, slope=1, intercept=0, bits_stored=12, pixel_representation=0)
    assert fixed.tolist() == [-1000.0, 40.0, 0.0]
    normal = hounsfield(stored, slope=1, intercept=-1024, bits_stored=12, pixel_representation=0)
    assert normal.tolist() == [2072.0, -984.0, -1024.0]


def test_monochrome1_inverts_stored_bits_before_rescale():
    stored = np.array([4095 - 1064, 4095], dtype=np.int32)
    hu = hounsfield(stored, slope=1, intercept=-1024, bits_stored=12, pixel_representation=0, monochrome1=True)
    assert hu.tolist() == [40.0, -1024.0]
    signed = hounsfield(np.array([-41]), slope=1, intercept=0, bits_stored=16, pixel_representation=1, monochrome1=True)
    assert signed.tolist() == [40.0]


def test_padding_becomes_air_and_range_limit_is_inclusive():
    stored = np.array([63536, 1064, 63530], dtype=np.int32)
    mask = padding_mask(stored, 63536, None)
    hu = hounsfield(stored, slope=1, intercept=-1024, bits_stored=16, pixel_representation=0, padding=mask)
    assert hu.tolist() == [-1000.0, 40.0, 62506.0]
    assert padding_mask(stored, 63536, 63530).tolist() == [True, False, True]


def test_rescale_slope_and_windows():
    hu = hounsfield(np.array([[2128, 2000]]), slope=0.5, intercept=-1024, bits_stored=16, pixel_representation=0)
    assert hu.tolist() == [[40.0, -24.0]]
    chw = apply_windows(hu, DEFAULT_WINDOWS)
    # brain 40/80 -> [0, 80]; subdural 80/200 -> [-20, 180]; bone 600/2800 -> [-800, 2000]
    np.testing.assert_allclose(chw[:, 0, 0], [0.5, 60 / 200, 840 / 2800], atol=1e-7)
    np.testing.assert_allclose(chw[:, 0, 1], [0.0, 0.0, 776 / 2800], atol=1e-7)


def test_resize_is_half_pixel_bilinear_without_antialiasing():
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    # 4 -> 2: each output samples the centre of a 2x2 block.
    assert resize_channels(image, 2)[0].tolist() == [[2.5, 4.5], [10.5, 12.5]]
    # 2 -> 4: half-pixel centres, edges clamped.
    up = resize_channels(np.array([[[0, 4], [8, 12]]], dtype=np.float32), 4)[0]
    assert up[0].tolist() == [0.0, 1.0, 3.0, 4.0]


def test_windows_keep_given_order():
    hu = np.full((2, 2), 80.0, np.float32)
    swapped = apply_windows(hu, [Window("subdural", 80, 200), Window("brain", 40, 80)])
    assert swapped[:, 0, 0].tolist() == [0.5, 1.0]
