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


def band(top: np.ndarray, bottom: np.ndarray, down: np.ndarray, shape, min_gap: float = 0.25) -> Optional[Band]:
    """Pixels between ``top`` and ``bottom`` ([K, 2] and [M, 2] polylines from the same corner a
    to the same corner b); ``down`` points from top to bottom.  ``None`` when the band is empty."""
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
    inside = (pa > -0.5) & (pa < length + 0.5)
    top_b = np.interp(pa, ta, tb)
    bot_b = np.interp(pa, ba, bb)
    t = pb - top_b
    gap = bot_b - top_b
    cov = np.minimum(t, bot_b - pb) + 0.5
    keep = inside & (cov > 0) & (gap > 0)
    if not keep.any():
        return None
    ys, xs, pa, t, gap, cov = ys[keep], xs[keep], pa[keep], t[keep], gap[keep], cov[keep]
    alpha = np.clip(cov, 0, 1) * np.clip(np.minimum(pa, length - pa) + 0.5, 0, 1)
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

@dataclass
class MouthColours:
    cavity: np.ndarray       # darkest part of the mouth
    teeth: np.ndarray        # teeth in the mouth's light
    tongue: np.ndarray
    synth_teeth: float       # 0..1: draw synthetic teeth (the reference shows none)


def mouth_colours(image: np.ndarray, lip_rgb: np.ndarray, skin_lum: float, src_band: Optional[Band],
                  src_open: float) -> MouthColours:
    """Colours of the synthetic mouth interior, from the reference's own mouth where it shows one."""
    light = float(np.clip(skin_lum / 0.55, 0.45, 1.1))
    teeth = np.array([0.93, 0.90, 0.83], np.float32) * 0.9 * light
    cavity = (0.3 * lip_rgb + 0.01).astype(np.float32)
    tongue = (0.55 * lip_rgb).astype(np.float32)
    if src_band is not None and src_open > 0.06 and len(src_band.ys) >= 12:
        px = image[src_band.ys, src_band.xs]
        lum = luminance(px)
        q = np.quantile(lum, [0.2, 0.8])
        dark, bright = px[lum <= q[0]], px[lum >= q[1]]
        if len(dark):
            cavity = (0.5 * cavity + 0.5 * np.clip(dark.mean(axis=0), 0.4 * cavity, cavity)).astype(np.float32)
        if len(bright) and luminance(bright.mean(axis=0)) > luminance(cavity) + 0.25:
            teeth = bright.mean(axis=0).astype(np.float32)
    synth = float(np.clip((0.3 - src_open) / 0.1, 0.0, 1.0))
    return MouthColours(cavity=cavity, teeth=teeth, tongue=tongue, synth_teeth=synth)


def mouth_interior(b: Band, width: float, col: MouthColours, teeth: bool = True) -> np.ndarray:
    """Synthetic mouth interior [P, 3] on band ``b`` (the inner-lip opening, ``width`` = mouth width)."""
    u, t, gap = b.u, b.t, b.gap
    v = t / gap
    du = np.abs(u - 0.5) * 2                                    # 0 centre .. 1 corners
    # dark cavity, darkest in the middle, a little lighter toward the lips and the corners
    shade = 0.55 + 0.45 * np.clip(np.maximum(du ** 2, np.abs(2 * v - 1) ** 3), 0, 1)
    out = col.cavity[None, :] * shade[:, None]
    # tongue: low in a wide-open mouth
    open_ratio = gap / max(width, 1e-6)
    tg = np.clip((open_ratio - 0.18) / 0.15, 0, 1) * _smooth((v - 0.55) / 0.35) * _smooth((0.75 - du) / 0.3)
    out = out * (1 - 0.7 * tg[:, None]) + col.tongue[None, :] * (0.7 * tg[:, None])
    if teeth and col.synth_teeth > 0:
        arch = np.sqrt(np.clip(1 - (du / 0.8) ** 2, 0, 1))     # teeth recede toward the corners
        # upper teeth hang from the upper lip
        th = np.minimum(0.13 * width, 0.42 * gap) * arch
        on = _smooth((th - t) + 0.5) * (th > 0.3)
        gaps = np.zeros_like(u)
        for k in (0.0, 0.1, 0.185, 0.26, 0.33):                # lines between incisors, canines, ...
            for sgn in ((1,) if k == 0 else (1, -1)):
                d_px = (u - (0.5 + sgn * k / 2 * 1.6)) * b.length
                gaps = np.maximum(gaps, np.exp(-0.5 * (d_px / 0.7) ** 2))
        lit = (0.72 + 0.28 * arch) * (0.8 + 0.2 * _smooth(t / 1.5)) * (1 - 0.28 * gaps)
        lit = lit * (1 - 0.15 * _smooth((t - 0.6 * th) / np.maximum(0.4 * th, 1e-6)))
        tooth = col.teeth[None, :] * lit[:, None]
        a_up = (on * col.synth_teeth)[:, None]
        out = out * (1 - a_up) + tooth * a_up
        # a hint of the lower teeth just above the lower lip
        tb = gap - t
        thl = np.minimum(0.06 * width, 0.22 * gap) * np.sqrt(np.clip(1 - (du / 0.6) ** 2, 0, 1))
        onl = _smooth((thl - tb) + 0.5) * (thl > 0.3) * 0.8 * col.synth_teeth
        lower = col.teeth[None, :] * (0.7 * (1 - 0.25 * gaps))[:, None]
        out = out * (1 - onl[:, None]) + lower * onl[:, None]
    return out.astype(np.float32)

