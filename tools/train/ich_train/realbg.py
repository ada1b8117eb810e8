"""Synthetic bleeds inserted into real head CT slices (real backgrounds for sim-to-real).

The real slice supplies anatomy, noise texture, skull base, face, neck and head holder,
which the phantoms only approximate. On each slice the intracranial space is found from
HU alone (inside the closed skull, -30..100 HU, largest component); its distance to the
skull stands in for the phantom's depth below the inner table, CSF-dense pixels near the
surface stand in for sulci and deep ones for ventricles. Lesions are drawn with the
phantom's shape functions and blended with a soft edge (partial volume) and the slice's
own noise level. Labels: the inserted lesions only; a real background may hold a real,
unlabelled bleed (about 14% of the RSNA slices do), which then trains as a negative.
"""
from typing import Dict, Tuple

import cv2
import numpy as np
import torch

from .contract import SUBTYPES
from .phantom import MIN_LESION_MM2, _lesion_mask, random_lesion

MIN_BRAIN_MM2 = 3000.0  # smaller intracranial sections (neck, vertex tip) get no lesion


def intracranial_mask(hu: np.ndarray, pixel_mm: float) -> np.ndarray:
    """Soft-tissue-dense pixels enclosed by the skull, largest connected region.

    Foramina and thin bone leave gaps through which a flood fill from outside would leak,
    so the skull is closed with growing kernels until the enclosed region is large enough."""
    skull = (hu > 250).astype(np.uint8)
    region = np.zeros(hu.shape, dtype=bool)
    for close_mm in (4, 8, 14):
        size = max(3, int(round(close_mm / pixel_mm)) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        closed = cv2.morphologyEx(skull, cv2.MORPH_CLOSE, kernel)
        flood = closed.copy()
        cv2.floodFill(flood, np.zeros((hu.shape[0] + 2, hu.shape[1] + 2), np.uint8), (0, 0), 1)
        inside = (flood == 0) & (closed == 0)
        candidate = (inside & (hu > -30) & (hu < 100)).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=4)
        if count > 1:
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            region = labels == largest
            if region.sum() * pixel_mm ** 2 >= MIN_BRAIN_MM2:
                break
    return region


def insert_lesions(hu: np.ndarray, pixel_mm: float, g: torch.Generator, probability: float = 0.5
                   ) -> Tuple[np.ndarray, Dict[str, bool]]:
    """(HU slice with 0-3 inserted bleeds, {subtype: present}) for one real slice."""
    present = {kind: False for kind in SUBTYPES}
    if float(torch.rand((), generator=g)) >= probability:
        return hu, present
    brain = intracranial_mask(hu, pixel_mm)
    if brain.sum() * pixel_mm ** 2 < MIN_BRAIN_MM2:
        return hu, present
    inner = cv2.distanceTransform(brain.astype(np.uint8), cv2.DIST_L2, 5) * pixel_mm
    rows, cols = np.nonzero(brain)
    cy, cx = rows.mean(), cols.mean()
    yy, xx = np.mgrid[0:hu.shape[0], 0:hu.shape[1]]
    x = torch.from_numpy(((xx - cx) * pixel_mm).astype(np.float32))
    y = torch.from_numpy(((yy - cy) * pixel_mm).astype(np.float32))
    theta = torch.atan2(y, x)
    # CSF on a lightly smoothed image, so single noisy pixels do not count as sulci.
    smooth = cv2.GaussianBlur(hu.astype(np.float32), (0, 0), 1.2)
    csf_like = brain & (smooth > -10) & (smooth < 15)
    sulcus = torch.from_numpy(_components(csf_like & (inner < 15), 6.0 / pixel_mm ** 2))
    ventricles = torch.from_numpy(_components(csf_like & (inner >= 15), 40.0 / pixel_mm ** 2))
    none = torch.zeros_like(sulcus)
    brain_t, inner_t = torch.from_numpy(brain), torch.from_numpy(inner.astype(np.float32))
    noise = _noise_level(hu, brain)
    out = hu.astype(np.float32).copy()
    count = 1 + int(torch.randint(0, 3, (), generator=g)) if float(torch.rand((), generator=g)) < 0.3 else 1
    for k in torch.randperm(len(SUBTYPES), generator=g)[:count].tolist():
        kind = SUBTYPES[k]
        lesion = random_lesion(g, kind)
        taper = 0.5 + 0.5 * float(torch.rand((), generator=g))
        if kind == "intraventricular":
            mask = _ventricle_fill(ventricles, y, g)
        else:
            mask = _lesion_mask(lesion, taper, x, y, x, theta, inner_t, brain_t, sulcus, ventricles, none, g)
        mask = (mask & brain_t).numpy()
        if mask.sum() * pixel_mm ** 2 < MIN_LESION_MM2:
            continue
        blood = lesion.hu + noise * np.asarray(torch.randn(hu.shape, generator=g))
        # Soft edge: the lesion's border mixes with its surroundings like partial volume.
        alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.8)
        out = out * (1 - alpha) + blood * alpha
        present[kind] = True
    return out, present


def _components(mask: np.ndarray, min_pixels: float) -> np.ndarray:
    """`mask` without connected components smaller than `min_pixels`."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_pixels
    return keep[labels]


def _ventricle_fill(ventricles: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    # Blood settles in the dependent (posterior: larger y) part of the ventricles.
    if int(ventricles.sum()) == 0:
        return ventricles
    ys = y[ventricles]
    level = torch.quantile(ys, 1 - (0.2 + 0.6 * float(torch.rand((), generator=g))))
    return ventricles & (y >= level)


def _noise_level(hu: np.ndarray, brain: np.ndarray) -> float:
    smooth = cv2.GaussianBlur(hu.astype(np.float32), (0, 0), 2.0)
    residual = (hu - smooth)[brain]
    return float(np.clip(np.std(residual), 2.0, 12.0)) if residual.size else 5.0


def labels_row(present: Dict[str, bool]) -> list:
    subtypes = [float(present[kind]) for kind in SUBTYPES]
    return [max(subtypes)] + subtypes

