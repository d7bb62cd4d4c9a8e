"""Painting what a warp cannot produce: the mouth interior and closed eyelids.

Both work on a *band*: the pixels between two polylines (an upper and a lower contour that
share their end points, e.g. the inner lips), expressed in the band's own frame (``a`` along
the corner-to-corner axis, ``b`` across it), so any head roll is handled.  Only the band's
bounding box is touched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class Band:
    ys: np.ndarray      # [P] pixel rows
    xs: np.ndarray      # [P] pixel columns
    t: np.ndarray       # [P] distance below the upper contour (pixels, >= 0 inside)
    gap: np.ndarray     # [P] band height at this position (pixels)
    u: np.ndarray       # [P] 0..1 from corner a to corner b
    iu: np.ndarray      # [P] fractional index along the upper chain
    il: np.ndarray      # [P] fractional index along the lower chain
    alpha: np.ndarray   # [P] pixel coverage (anti-aliased edges)
    length: float       # corner-to-corner distance (pixels)


def _monotone(a: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(a)


def band(top: np.ndarray, bottom: np.ndarray, down: np.ndarray, shape, min_gap: float = 0.25,
         feather: float = 0.5) -> Optional[Band]:
    """Pixels between ``top`` and ``bottom`` ([K, 2] and [M, 2] polylines from the same corner a
    to the same corner b); ``down`` points from top to bottom.  ``None`` when the band is empty.

    ``feather``: a pixel whose centre lies this far inside the band is fully covered; the coverage
    (``alpha``) falls to 0 over the next pixel outwards (0.5: centred on the contour; 1.0: every
    pixel inside is painted fully and the anti-aliasing lies on the pixels outside)."""
    h, w = shape[:2]
    a0, a1 = top[0], top[-1]
    axis = a1 - a0
    length = float(np.linalg.norm(axis))
    if length < 1.0:
        return None
    e1 = axis / length
    e2 = np.array([-e1[1], e1[0]])
    if e2 @ down < 0:
        e2 = -e2
    ta, tb = (top - a0) @ e1, (top - a0) @ e2
    ba, bb = (bottom - a0) @ e1, (bottom - a0) @ e2
    ta, ba = _monotone(ta), _monotone(ba)
    if (np.interp(ta, ba, bb) - tb).max() < min_gap:
        return None  # closed everywhere
    pts = np.concatenate([top, bottom])
    x0 = max(int(np.floor(pts[:, 0].min())), 0)
    x1 = min(int(np.ceil(pts[:, 0].max())), w - 1)
    y0 = max(int(np.floor(pts[:, 1].min())), 0)
    y1 = min(int(np.ceil(pts[:, 1].max())), h - 1)
    if x1 < x0 or y1 < y0:
        return None
    yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1]
    ys, xs = yy.ravel(), xx.ravel()
    pa = (xs - a0[0]) * e1[0] + (ys - a0[1]) * e1[1]
    pb = (xs - a0[0]) * e2[0] + (ys - a0[1]) * e2[1]
    inside = (pa > -feather) & (pa < length + feather)
    top_b = np.interp(pa, ta, tb)
    bot_b = np.interp(pa, ba, bb)
    t = pb - top_b
    gap = bot_b - top_b
    cov = np.minimum(t, bot_b - pb) + feather
    keep = inside & (cov > 0) & (gap > 0)
    if not keep.any():
        return None
    ys, xs, pa, t, gap, cov = ys[keep], xs[keep], pa[keep], t[keep], gap[keep], cov[keep]
    alpha = np.clip(cov, 0, 1) * np.clip(np.minimum(pa, length - pa) + feather, 0, 1)
    iu = np.interp(pa, ta, np.arange(len(ta), dtype=np.float64))
    il = np.interp(pa, ba, np.arange(len(ba), dtype=np.float64))
    return Band(ys, xs, np.clip(t, 0, None), np.maximum(gap, 1e-6), np.clip(pa / length, 0, 1), iu, il,
                alpha.astype(np.float32), length)


def chain_at(chain: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Points at fractional indices ``idx`` along a polyline ``chain`` [K, D]."""
    i0 = np.clip(np.floor(idx).astype(np.int64), 0, len(chain) - 1)
    i1 = np.minimum(i0 + 1, len(chain) - 1)
    f = (idx - i0)[:, None]
    return chain[i0] * (1 - f) + chain[i1] * f


def bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``img`` [H, W, C] sampled at float ``(x, y)`` (clamped), -> [P, C]."""
    h, w = img.shape[:2]
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (x - x0)[:, None].astype(np.float32)
    fy = (y - y0)[:, None].astype(np.float32)
    return ((img[y0, x0] * (1 - fx) + img[y0, x1] * fx) * (1 - fy)
            + (img[y1, x0] * (1 - fx) + img[y1, x1] * fx) * fy)


def luminance(c: np.ndarray) -> np.ndarray:
    return c[..., 0] * 0.299 + c[..., 1] * 0.587 + c[..., 2] * 0.114


def _smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


# ----------------------------------------------------------------------------- mouth

#: arch angles (degrees from the midline) of the boundaries between the upper teeth, seen from the
#: front: central incisor, lateral incisor, canine, two premolars (tooth widths on a ~25 mm arch)
TOOTH_BOUNDS_DEG = np.array([0.0, 19.5, 34.5, 51.5, 67.5, 83.5])
#: arch angle seen at the inner mouth corners (the teeth recede from the lips towards them)
ARCH_VISIBLE_DEG = 72.0
#: exponents of the shadow factor per channel (R, G, B): shadows in the mouth are warm
SHADOW_TINT = np.array([0.7, 1.15, 1.45], np.float32)


@dataclass
class MouthColours:
    cavity: np.ndarray       # the deep back of the mouth (dark red-brown)
    cavity_edge: np.ndarray  # the cavity near the lips and the corners (lit, redder)
    tongue: np.ndarray
    teeth: np.ndarray        # upper teeth in the face's light (the portrait's own teeth when it shows them)
    real_teeth: bool         # the colours above come from teeth visible in the portrait
    grey: bool = False       # a grey portrait: no colour tint anywhere


def _grey_like(c: np.ndarray, grey: bool) -> np.ndarray:
    c = np.asarray(c, np.float32)
    return np.full(3, luminance(c), np.float32) if grey else c


def mouth_colours(image: np.ndarray, lip_rgb: np.ndarray, skin_rgb: np.ndarray, src_band: Optional[Band],
                  src_open: float) -> MouthColours:
    """Colours of the synthetic mouth interior: lit like the face (its skin's brightness), tinted by
    its lips, grey for a grey portrait, and the portrait's own teeth colour when it shows teeth."""
    skin_rgb = np.asarray(skin_rgb, np.float32)
    lip_rgb = np.asarray(lip_rgb, np.float32)
    light = float(np.clip(luminance(skin_rgb) / 0.6, 0.3, 1.2))
    grey = float(np.ptp(skin_rgb)) < 0.02 and float(np.ptp(lip_rgb)) < 0.02
    cavity = 0.55 * np.array([0.20, 0.065, 0.055], np.float32) * light + 0.2 * lip_rgb
    cavity_edge = 0.5 * lip_rgb + 0.08 * light
    tongue = 0.55 * lip_rgb + 0.45 * np.array([0.72, 0.40, 0.40], np.float32) * light
    # enamel in the face's light, with a little of the skin's colour bounced into the mouth
    teeth = 0.85 * np.array([0.95, 0.91, 0.81], np.float32) * 0.95 * light + 0.15 * skin_rgb
    real = False
    if src_band is not None and src_open > 0.05 and len(src_band.ys) >= 12:
        px = image[src_band.ys, src_band.xs]
        lum = luminance(px)
        bright = px[lum >= np.quantile(lum, 0.75)]
        if len(bright) and luminance(bright.mean(axis=0)) > max(0.55 * luminance(skin_rgb), luminance(lip_rgb) + 0.12):
            teeth = np.clip(bright.mean(axis=0) * 1.02, 0, 1).astype(np.float32)
            real = True
    return MouthColours(cavity=_grey_like(cavity, grey), cavity_edge=_grey_like(cavity_edge, grey),
                        tongue=_grey_like(tongue, grey), teeth=_grey_like(teeth, grey), real_teeth=real, grey=grey)


def mouth_interior(b: Band, width: float, col: MouthColours, teeth: bool = True,
                   top: Optional[np.ndarray] = None, bottom: Optional[np.ndarray] = None) -> np.ndarray:
    """Synthetic mouth interior ``[P, 3]`` on band ``b`` (the inner-lip opening; ``width``: the mouth's
    outer width in pixels).  Back to front: a dark red-brown cavity, lighter towards the lips and
    corners; the tongue, rising with the opening; the lower teeth above the lower lip; the upper teeth
    hanging from the upper lip, in perspective along the dental arch (narrower and darker towards
    the corners, a scalloped biting edge); the lips' shadow over all of it.  Every edge is
    anti-aliased over one pixel, and tooth details fade out on small faces.

    ``top`` / ``bottom`` (pixels, per band pixel): how much of the opening below the upper lip /
    above the lower lip the reference's own interior covers; the synthetic layers start where it
    ends (the real upper teeth are the front of the row, the synthetic ones only continue them)."""
    u, gap = b.u, b.gap
    top = np.zeros_like(gap) if top is None else top
    bottom = np.zeros_like(gap) if bottom is None else bottom
    t = np.maximum(b.t - top, 0.0)                               # distance below the upper edge
    tb = np.maximum(gap - b.t - bottom, 0.0)                     # distance above the lower edge
    v = np.clip(t / np.maximum(t + tb, 1e-6), 0.0, 1.0)
    xn = np.clip((u - 0.5) * 2.0, -1.0, 1.0)                    # -1 .. 1 corner to corner
    du = np.abs(xn)
    # cavity: deepest (darkest) at the centre back, lit near the lips and into the corners
    e = np.clip(np.maximum(du ** 2, np.abs(2 * v - 1) ** 3) * 0.85, 0, 1)[:, None]
    out = col.cavity[None, :] * (1 - e) + col.cavity_edge[None, :] * e
    out = out * (0.85 + 0.15 * v)[:, None]                        # the palate shades the upper part
    # tongue: a mound behind the lower teeth that rises with the opening (open vowels); its front,
    # near the lower teeth, catches the light, its back fades into the dark of the mouth
    ht = np.clip(0.5 * (gap - 0.06 * width), 0.0, 0.25 * width) * np.sqrt(np.clip(1 - (xn / 0.85) ** 2, 0, 1))
    on_t = np.clip((ht - tb) / 1.5 + 0.5, 0, 1) * (ht > 0.3)
    rise = np.clip(tb / np.maximum(ht, 1e-6), 0, 1)
    shade_t = (1.0 - 0.45 * rise ** 1.5) * (1 - 0.4 * (xn / 0.85) ** 2)
    groove = 1 - 0.15 * np.exp(-0.5 * (xn * b.length / 2 / max(0.04 * width, 0.7)) ** 2)
    tongue = col.tongue[None, :] * (shade_t * groove)[:, None]
    out = out * (1 - on_t[:, None]) + tongue * on_t[:, None]
    if teeth:
        phi = np.arcsin(np.clip(xn * np.sin(np.radians(ARCH_VISIBLE_DEG)), -1, 1))
        deg = np.degrees(np.abs(phi))
        # distance (pixels along the mouth) to the nearest boundary between two teeth, and the tooth's width
        k = np.clip(np.searchsorted(TOOTH_BOUNDS_DEG, deg), 1, len(TOOTH_BOUNDS_DEG) - 1)
        lo_b, hi_b = TOOTH_BOUNDS_DEG[k - 1], TOOTH_BOUNDS_DEG[k]
        px_per_deg = np.cos(phi) * (b.length / 2) / np.sin(np.radians(ARCH_VISIBLE_DEG)) * np.pi / 180
        d_px = np.minimum(deg - lo_b, hi_b - deg) * px_per_deg
        tooth_px = (hi_b - lo_b) * px_per_deg
        detail = np.clip((tooth_px - 2.0) / 4.0, 0, 1)          # no tooth lines on small faces
        frac = np.clip(d_px / np.maximum(0.5 * tooth_px, 1e-6), 0, 1)   # 0 at a boundary, 1 mid-tooth
        lines = np.exp(-0.5 * (d_px / 0.55) ** 2) * detail
        cos_phi = np.cos(phi)
        # lower teeth: in the shadow of the upper ones, visible when the jaw opens
        hl = np.clip(0.22 * (gap - 0.12 * width), 0.0, 0.05 * width) * np.clip((cos_phi - 0.62) / 0.38, 0, 1)
        hl = hl * (1 - 0.15 * detail * (1 - frac) ** 2)
        on_l = np.clip(hl - tb + 0.5, 0, 1) * (hl > 0.3)
        low = col.teeth[None, :] * ((0.58 + 0.14 * cos_phi) * (1 - 0.2 * lines))[:, None]
        out = out * (1 - on_l[:, None]) + low * on_l[:, None]
        # upper teeth: hang from the upper lip; shorter towards the corners, rounded tooth tips
        hu = 0.12 * width * np.clip((cos_phi - 0.2) / 0.8, 0, 1) ** 0.5 * (1 - 0.12 * detail * (1 - frac) ** 2) - top
        on_u = np.clip(hu - t + 0.5, 0, 1) * (hu > 0.3)
        lit = (0.62 + 0.38 * cos_phi ** 2) * (1 - 0.25 * lines)
        lit = lit * (1 - 0.12 * _smooth((t - 0.7 * hu) / np.maximum(0.3 * hu, 1e-6)))   # translucent edge
        up = col.teeth[None, :] * lit[:, None]
        out = out * (1 - on_u[:, None]) + up * on_u[:, None]
    # the lips' shadow at the inner-lip edge, and the corners deep in the cheeks
    r = 0.6 + 0.03 * width
    ao = (1 - 0.35 * np.exp(-t / r)) * (1 - 0.3 * np.exp(-tb / r)) * (1 - 0.35 * du ** 4)
    # light inside the mouth has bounced off red surfaces: shadows turn warm, not grey
    tint = np.ones(3, np.float32) if col.grey else SHADOW_TINT
    return (out * ao[:, None] ** tint[None, :]).astype(np.float32)

