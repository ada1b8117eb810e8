"""Synthetic head CT series in HU with the five hemorrhage types (torch, CPU or GPU).

A series is a stack of axial slices from the skull base (height h = 0) to the vertex
(h = 1). Anatomy is drawn in millimetres on each slice from parameters that change smoothly
with h, so neighbouring slices agree (z-continuity):
- head outline: an ellipse with a low-order Fourier wobble, shrinking towards base and vertex;
- scalp, skull (dense outer and inner tables around a lighter diploe, thicker where the
  section cuts the vault obliquely), a thin CSF layer under the inner table;
- gray matter ribbon, white matter, deep gray nuclei, sulci (CSF clefts lined by gray
  matter), interhemispheric fissure with a slightly dense falx, lateral and third
  ventricles, and at the base petrous ridges, sinus and mastoid air, orbits;
- partial volume (Gaussian blur of the clean image) and correlated quantum noise.
Bleeds (blood 40-90 HU with texture) follow their characteristic shapes and places:
epidural lens against the inner table, subdural crescent along it, intraparenchymal blob
with an edema rim, intraventricular blood layering in the dependent horns, subarachnoid
blood in sulci and basal cisterns. Large lesions can shift the midline (mass effect).
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

from .contract import SUBTYPES

AIR = -1000.0
MIN_LESION_MM2 = 2.0  # smaller cross-sections are not labelled (partial volume at the edges)


@dataclass
class Lesion:
    kind: str  # one of SUBTYPES
    h0: float  # height range of the lesion
    h1: float
    angle: float  # radians, 0 = patient's left (image right), pi/2 = posterior
    size: float  # mm: thickness (epi/subdural), radius (IPH), level depth (IVH), extent (SAH)
    span: float  # radians of arc (epi/subdural/SAH), or eccentricity (IPH)
    hu: float
    depth: float = 0.0  # mm from the head centre to an IPH centre


@dataclass
class SeriesParams:
    head_a: float  # mm, half width
    head_b: float  # mm, half length
    wobble: List[float]  # Fourier coefficients of the outline
    wobble_phase: List[float]
    scalp: float
    skull: float
    csf_gap: float  # subarachnoid space under the inner table, grows with atrophy
    ventricle_scale: float
    sulcus_count: int
    sulcus_phase: float
    gray_hu: float
    white_hu: float
    csf_hu: float
    noise_hu: float
    blur_px: float
    tilt: float  # in-plane rotation, radians
    offset_x: float
    offset_y: float
    lesions: List[Lesion] = field(default_factory=list)
    midline_shift: float = 0.0
    # Bright things that are not blood (classic false positives) and the head holder.
    holder_gap: Optional[float] = None  # mm behind the scalp; None: no holder
    holder_hu: float = 250.0
    calcification_hu: Optional[float] = None  # pineal and choroid plexus; None: not calcified


def _uniform(g: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g))


def random_series_params(g: torch.Generator, bleed_probability: float = 0.5, mass_effect: bool = True) -> SeriesParams:
    params = SeriesParams(
        head_a=_uniform(g, 66, 78),
        head_b=_uniform(g, 84, 98),
        wobble=[_uniform(g, 0, 0.03) for _ in range(4)],
        wobble_phase=[_uniform(g, 0, 2 * math.pi) for _ in range(4)],
        scalp=_uniform(g, 3, 7),
        skull=_uniform(g, 4.5, 8.5),
        csf_gap=_uniform(g, 0.5, 3.5),
        ventricle_scale=_uniform(g, 0.7, 1.6),
        sulcus_count=int(_uniform(g, 14, 26)),
        sulcus_phase=_uniform(g, 0, 2 * math.pi),
        gray_hu=_uniform(g, 34, 44),
        white_hu=_uniform(g, 22, 30),
        csf_hu=_uniform(g, 0, 12),
        noise_hu=_uniform(g, 1.5, 5.0),  # matches 1.8-4.2 HU measured on the real series (docs/training.md)
        blur_px=_uniform(g, 0.5, 1.2),
        tilt=_uniform(g, -0.25, 0.25),
        offset_x=_uniform(g, -12, 12),
        offset_y=_uniform(g, -15, 10),
    )
    if float(torch.rand((), generator=g)) < bleed_probability:
        count = 1 + int(torch.randint(0, 3, (), generator=g)) if float(torch.rand((), generator=g)) < 0.4 else 1
        kinds = torch.randperm(len(SUBTYPES), generator=g)[:count].tolist()
        params.lesions = [random_lesion(g, SUBTYPES[k]) for k in kinds]
        if mass_effect:
            params.midline_shift = sum(_mass_effect(lesion) for lesion in params.lesions)
    # Drawn last so that adding them left every earlier draw (and lesion) unchanged.
    if float(torch.rand((), generator=g)) < 0.8:
        params.holder_gap, params.holder_hu = _uniform(g, 3, 20), _uniform(g, 120, 400)
    if float(torch.rand((), generator=g)) < 0.5:
        params.calcification_hu = _uniform(g, 120, 600)
    return params


def random_lesion(g: torch.Generator, kind: str) -> Lesion:
    side = 1.0 if float(torch.rand((), generator=g)) < 0.5 else -1.0
    if kind == "epidural":
        # Temporal/parietal convexity, lens up to ~2 cm thick, few slices.
        centre = _uniform(g, 0.35, 0.75)
        return Lesion(kind, centre - _uniform(g, 0.06, 0.15), centre + _uniform(g, 0.06, 0.15),
                      angle=_side_angle(g, side), size=_uniform(g, 5, 20), span=_uniform(g, 0.25, 0.6),
                      hu=_uniform(g, 55, 90))
    if kind == "subdural":
        centre = _uniform(g, 0.4, 0.75)
        return Lesion(kind, centre - _uniform(g, 0.12, 0.3), centre + _uniform(g, 0.1, 0.25),
                      angle=_side_angle(g, side), size=_uniform(g, 2, 14), span=_uniform(g, 0.7, 1.5),
                      hu=_uniform(g, 45, 85))
    if kind == "intraparenchymal":
        centre = _uniform(g, 0.3, 0.8)
        radius = _uniform(g, 4, 25)
        return Lesion(kind, centre - radius / 120, centre + radius / 120,
                      angle=_uniform(g, 0, 2 * math.pi), size=radius, span=_uniform(g, 0.6, 1.0),
                      hu=_uniform(g, 55, 90), depth=_uniform(g, 5, 45))
    if kind == "intraventricular":
        return Lesion(kind, _uniform(g, 0.36, 0.45), _uniform(g, 0.5, 0.66), angle=side,
                      size=_uniform(g, 3, 20), span=0.0, hu=_uniform(g, 45, 80))
    if kind == "subarachnoid":
        centre = _uniform(g, 0.2, 0.8)
        return Lesion(kind, centre - _uniform(g, 0.08, 0.25), centre + _uniform(g, 0.08, 0.25),
                      angle=_uniform(g, 0, 2 * math.pi), size=_uniform(g, 10, 30), span=_uniform(g, 0.5, 2.5),
                      hu=_uniform(g, 40, 70))
    raise ValueError(f"unknown hemorrhage type {kind!r}")


def _side_angle(g: torch.Generator, side: float) -> float:
    # Lateral convexities are the common sites; angle 0 points to the image's right.
    base = 0.0 if side > 0 else math.pi
    return base + _uniform(g, -0.9, 0.9)


def _mass_effect(lesion: Lesion) -> float:
    if lesion.kind not in ("epidural", "subdural", "intraparenchymal") or lesion.size < 10:
        return 0.0
    # Push the midline away from the lesion's side, up to ~1 cm.
    return -math.cos(lesion.angle) * min(10.0, (lesion.size - 8) * 0.6)


def heights(slices: int) -> torch.Tensor:
    """Slice heights from just above the skull base to just below the vertex."""
    return torch.linspace(0.08, 0.95, slices)


def render_series(
    params: SeriesParams,
    slices: int,
    size: int = 512,
    fov_mm: float = 250.0,
    generator: Optional[torch.Generator] = None,
    device: str = "cpu",
) -> (torch.Tensor, Dict[str, torch.Tensor]):
    """HU volume [slices, size, size] and per-subtype lesion masks of the same shape."""
    g = generator or torch.Generator().manual_seed(0)
    pixel = fov_mm / size
    coords = (torch.arange(size, dtype=torch.float32, device=device) - size / 2 + 0.5) * pixel
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    # Patient frame: rotate and offset the head within the field of view.
    cos_t, sin_t = math.cos(params.tilt), math.sin(params.tilt)
    xs = (x - params.offset_x) * cos_t + (y - params.offset_y) * sin_t
    ys = -(x - params.offset_x) * sin_t + (y - params.offset_y) * cos_t
    volume = []
    masks = {kind: [] for kind in SUBTYPES}
    for h in heights(slices).tolist():
        hu, lesion_masks = _render_slice(params, xs, ys, h, g)
        volume.append(hu)
        for kind in SUBTYPES:
            masks[kind].append(lesion_masks.get(kind, torch.zeros_like(hu, dtype=torch.bool)))
    hu = torch.stack(volume)
    hu = _partial_volume(hu, params.blur_px)
    hu = hu + _correlated_noise(hu.shape, params.noise_hu, g, device) * (hu > -900)
    return hu, {kind: torch.stack(m) for kind, m in masks.items()}


def slice_labels(masks: Dict[str, torch.Tensor], pixel_mm: float) -> torch.Tensor:
    """[slices, 6] float labels, "any" first, from lesion masks."""
    min_pixels = MIN_LESION_MM2 / (pixel_mm ** 2)
    columns = [(masks[kind].flatten(1).sum(1) >= min_pixels).float() for kind in SUBTYPES]
    subtypes = torch.stack(columns, dim=1)
    return torch.cat([subtypes.max(dim=1, keepdim=True).values, subtypes], dim=1)


def _render_slice(params: SeriesParams, x: torch.Tensor, y: torch.Tensor, h: float, g: torch.Generator):
    # Cross-section of an ellipsoid-like head: largest around h = 0.45.
    scale = math.sqrt(max(1.0 - ((h - 0.45) / 0.62) ** 2, 0.08))
    r = torch.sqrt(x ** 2 + y ** 2)
    theta = torch.atan2(y, x)
    a, b = params.head_a * scale, params.head_b * scale
    outline = a * b / torch.sqrt((b * torch.cos(theta)) ** 2 + (a * torch.sin(theta)) ** 2)
    for k, (amp, phase) in enumerate(zip(params.wobble, params.wobble_phase), start=2):
        outline = outline * (1 + amp * torch.cos(k * theta + phase))
    depth = outline - r  # mm inside the skin surface along the ray
    # The vault is cut obliquely near the vertex and the base: the skull looks thicker.
    skull = params.skull * (1 + 1.8 * max(0.0, h - 0.72) / 0.28 + 0.8 * max(0.0, 0.25 - h) / 0.25)
    inner = depth - params.scalp - skull  # mm inside the inner table
    hu = torch.full_like(r, AIR)
    hu = torch.where(depth > 0, torch.full_like(r, 30.0), hu)
    fat = (depth > params.scalp * 0.4) & (depth < params.scalp * 0.7)
    hu = torch.where(fat, torch.full_like(r, -80.0), hu)
    in_skull = (depth > params.scalp) & (inner <= 0)
    table = torch.clamp(1 - torch.abs((depth - params.scalp) / skull - 0.5) * 2, 0, 1)  # 0 at tables, 1 mid
    bone = 1700 - 1000 * table ** 2
    hu = torch.where(in_skull, bone, hu)
    brain = inner > 0
    # Midline structures move with mass effect; the shift fades towards the skull.
    shift = params.midline_shift * torch.clamp(inner / 30.0, 0, 1)
    xm = x - shift
    tissue = torch.full_like(r, params.white_hu)
    gray = inner < params.csf_gap + 3.5
    sulcus_wave = torch.abs(torch.sin(params.sulcus_count * theta / 2 + params.sulcus_phase
                                      + 0.6 * torch.sin(3 * theta + 7 * h) + 4 * h))
    sulcus_depth = 7 + 8 * (h > 0.55)
    sulcus_zone = inner < params.csf_gap + sulcus_depth
    sulcus = sulcus_zone & (sulcus_wave < 0.08 + 0.05 * params.ventricle_scale)
    gray = gray | (sulcus_zone & (sulcus_wave < 0.35))
    tissue = torch.where(gray, torch.full_like(r, params.gray_hu), tissue)
    nuclei = (h > 0.3) & (h < 0.55)
    if nuclei:
        for side in (-1, 1):
            blob = ((xm - side * 18) / 9) ** 2 + ((y + 2) / 14) ** 2 < 1
            tissue = torch.where(blob, torch.full_like(r, params.gray_hu - 2), tissue)
    csf = (inner < params.csf_gap) | sulcus
    fissure = (torch.abs(xm) < 1.2) & (y < 0) | (torch.abs(xm) < 1.2) & (y > 25 * scale)
    csf = csf | (fissure & (h > 0.4))
    ventricles = _ventricles(params, xm, y, h)
    csf = csf | ventricles
    cisterns = _basal_cisterns(xm, y, h)
    csf = csf | cisterns
    tissue = torch.where(csf, torch.full_like(r, params.csf_hu), tissue)
    falx = (torch.abs(xm) < 0.6) & fissure & (h > 0.4)
    tissue = torch.where(falx, torch.full_like(r, params.gray_hu + 20), tissue)
    hu = torch.where(brain, tissue, hu)
    hu = _skull_base(hu, x, y, h, outline, brain)
    hu = _calcifications(hu, params, xm, y, h, brain)
    hu = _head_holder(hu, params, y, depth)
    lesion_masks = {}
    for lesion in params.lesions:
        if not (lesion.h0 <= h <= lesion.h1):
            continue
        taper = math.sin(math.pi * (h - lesion.h0) / max(lesion.h1 - lesion.h0, 1e-3))
        mask = _lesion_mask(lesion, taper, x, y, xm, theta, inner, brain, sulcus, ventricles, cisterns, g)
        mask = mask & brain
        blood = lesion.hu + 4 * torch.randn(hu.shape, generator=g).to(hu.device)
        hu = torch.where(mask, blood, hu)
        if lesion.kind == "intraparenchymal" and lesion.size > 8:
            edema = _lesion_mask(lesion, taper * 1.35, x, y, xm, theta, inner, brain, sulcus, ventricles, cisterns, g)
            hu = torch.where(edema & ~mask & brain & ~csf, torch.full_like(r, params.white_hu - 8), hu)
        lesion_masks[lesion.kind] = lesion_masks.get(lesion.kind, torch.zeros_like(mask)) | mask
    return hu, lesion_masks


def _calcifications(hu, params: SeriesParams, x, y, h: float, brain):
    if params.calcification_hu is None:
        return hu
    spots = torch.zeros_like(brain)
    if 0.42 < h < 0.5:  # pineal gland, midline behind the third ventricle
        spots = spots | ((x ** 2 + (y - 14) ** 2) < 2.5 ** 2)
    if 0.45 < h < 0.56:  # choroid plexus in the atria of the lateral ventricles
        for side in (-1, 1):
            spots = spots | (((x - side * 14) ** 2 + (y - 24) ** 2) < 2.0 ** 2)
    return torch.where(spots & brain, torch.full_like(hu, params.calcification_hu), hu)


def _head_holder(hu, params: SeriesParams, y, depth):
    if params.holder_gap is None:
        return hu
    # A curved shell under the back of the head, a few mm thick, outside the skin.
    shell = (depth < -params.holder_gap) & (depth > -params.holder_gap - 2.5) & (y > 10)
    return torch.where(shell, torch.full_like(hu, params.holder_hu), hu)


def _ventricles(params: SeriesParams, x: torch.Tensor, y: torch.Tensor, h: float) -> torch.Tensor:
    mask = torch.zeros_like(x, dtype=torch.bool)
    if 0.36 < h < 0.68:
        grow = math.sin(math.pi * (h - 0.36) / 0.32) * params.ventricle_scale
        for side in (-1, 1):
            body = ((x - side * (4 + 3 * grow)) / (3 + 3.5 * grow)) ** 2 + ((y + 4) / (10 + 14 * grow)) ** 2 < 1
            # Occipital (posterior) horns diverge backwards.
            horn = ((x - side * (10 + 4 * grow)) / (2.5 + 2 * grow)) ** 2 + ((y - 22 - 6 * grow) / (5 + 4 * grow)) ** 2 < 1
            mask = mask | body | horn
    if 0.3 < h < 0.42:
        mask = mask | ((torch.abs(x) < 1.5 * params.ventricle_scale) & (torch.abs(y + 2) < 10))
    return mask


def _basal_cisterns(x: torch.Tensor, y: torch.Tensor, h: float) -> torch.Tensor:
    if not 0.18 < h < 0.36:
        return torch.zeros_like(x, dtype=torch.bool)
    # Suprasellar star around the midbrain: ring of CSF with anterior arms.
    ring = torch.sqrt((x / 14) ** 2 + ((y - 5) / 12) ** 2)
    star = (ring > 0.8) & (ring < 1.15)
    arms = (torch.abs(torch.abs(x) - 0.6 * torch.clamp(-y + 5, min=0)) < 2.0) & (y < 0) & (y > -25)
    return star | arms


def _skull_base(hu, x, y, h, outline, brain):
    if h >= 0.3:
        return hu
    weight = (0.3 - h) / 0.3
    # Petrous ridges: dense oblique bands pointing to the clivus.
    for side in (-1, 1):
        along = (x * side * 0.7 + (y - 10) * 0.7)
        across = (x * side * 0.7 - (y - 10) * 0.7)
        ridge = (torch.abs(across) < 2.5 + 3 * weight) & (along > 12) & (along < 35 * (0.4 + weight))
        hu = torch.where(ridge & brain, torch.full_like(hu, 1100.0), hu)
        mastoid = (((x - side * 45 * (0.6 + 0.4 * weight)) / 8) ** 2 + ((y - 25) / 8) ** 2) < 1
        hu = torch.where(mastoid & brain, torch.full_like(hu, -700.0), hu)
    sinus = ((x / (12 * weight + 4)) ** 2 + ((y + 0.55 * outline.min()) / 10) ** 2) < 1
    hu = torch.where(sinus & brain, torch.full_like(hu, AIR), hu)
    if h < 0.2:
        for side in (-1, 1):
            orbit = (((x - side * 28) / 14) ** 2 + ((y + outline.min() * 0.8) / 14) ** 2) < 1
            hu = torch.where(orbit, torch.full_like(hu, -80.0), hu)
            globe = (((x - side * 28) / 11) ** 2 + ((y + outline.min() * 0.85) / 11) ** 2) < 1
            hu = torch.where(globe, torch.full_like(hu, 12.0), hu)
    return hu


def _lesion_mask(lesion, taper, x, y, xm, theta, inner, brain, sulcus, ventricles, cisterns, g):
    delta = torch.remainder(theta - lesion.angle + math.pi, 2 * math.pi) - math.pi
    if lesion.kind == "epidural":
        # Biconvex lens: thickness falls off quadratically across the arc.
        profile = torch.clamp(1 - (delta / lesion.span) ** 2, min=0)
        return (inner > 0) & (inner < lesion.size * taper * profile)
    if lesion.kind == "subdural":
        # Crescent: flat across most of the arc, tapering only at the ends.
        profile = torch.clamp(1 - (delta / lesion.span) ** 4, min=0) ** 0.5
        return (inner > 0) & (inner < lesion.size * (0.4 + 0.6 * taper) * profile)
    if lesion.kind == "intraparenchymal":
        radius = lesion.size * taper
        # Centre `depth` mm from the head centre; heads are narrower left-right.
        cx = lesion.depth * math.cos(lesion.angle) * 0.75
        cy = lesion.depth * math.sin(lesion.angle)
        wobble = 1 + 0.15 * torch.sin(3 * torch.atan2(y - cy, x - cx) + lesion.hu)
        return (((x - cx) / (radius * wobble)) ** 2 + ((y - cy) / (radius * lesion.span * wobble)) ** 2) < 1
    if lesion.kind == "intraventricular":
        # Blood layers in the dependent (posterior, larger y) part of the ventricles.
        level = 30 - lesion.size * (0.5 + 0.5 * taper)
        side_ok = (xm * lesion.angle > -2) if lesion.size < 12 else torch.ones_like(brain)
        return ventricles & (y > level) & side_ok
    if lesion.kind == "subarachnoid":
        near = torch.abs(delta) < lesion.span
        return (sulcus & near) | (cisterns & (torch.rand(x.shape, generator=g).to(x.device) < 0.9 * taper + 0.1))
    raise ValueError(f"unknown hemorrhage type {lesion.kind!r}")


def _gaussian_kernel(sigma: float, device) -> torch.Tensor:
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    return k / k.sum()


def _blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [N, H, W] images (reflect padding)."""
    k = _gaussian_kernel(sigma, images.device)
    pad = k.numel() // 2
    out = images.unsqueeze(1)
    out = F.conv2d(F.pad(out, (pad, pad, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    out = F.conv2d(F.pad(out, (0, 0, pad, pad), mode="reflect"), k.view(1, 1, -1, 1))
    return out.squeeze(1)


def _partial_volume(hu: torch.Tensor, sigma_px: float) -> torch.Tensor:
    return _blur(hu, sigma_px)


def _correlated_noise(shape, std: float, g: torch.Generator, device) -> torch.Tensor:
    white = torch.randn(shape, generator=g).to(device)
    textured = _blur(white, 0.8)
    return textured * (std / textured.std().clamp(min=1e-6))
