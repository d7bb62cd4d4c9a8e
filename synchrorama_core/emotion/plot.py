"""Timeline picture of an ``SR_EMOTION``: one row per modality part and one for the fusion.

Each row has a strip of stacked emotion probabilities (colour per emotion) and a panel with
valence (blue), arousal (red) and, for parts, the confidence × weight (grey) / for the fused
row, the intensity (grey) on a -1..1 (0..1 for grey) scale.  Drawn with numpy + PIL only.
"""
from __future__ import annotations


import numpy as np

from .. import plotting
from ..types import EMOTIONS, EmotionData

COLORS = {
    "angry": (214, 39, 40), "contempt": (148, 103, 189), "disgusted": (140, 86, 75), "fear": (23, 190, 207),
    "happy": (255, 200, 30), "neutral": (200, 200, 200), "sad": (31, 119, 180), "surprised": (255, 127, 14),
}
_PALETTE = np.array([COLORS[e] for e in EMOTIONS], np.uint8)
V_COLOR, A_COLOR, G_COLOR = (30, 70, 200), (200, 30, 60), (90, 90, 90)
ROW_ORDER = ("text", "speech", "va")


def _cols(n: int, width: int) -> np.ndarray:
    """Frame index shown in each pixel column."""
    if n == 0:
        return np.zeros(0, np.int64)
    return np.minimum((np.arange(width) * n) // width, n - 1)


def _strip(probs: np.ndarray, cols: np.ndarray, h: int) -> np.ndarray:
    """Stacked probabilities, ``[h, W, 3]`` uint8 (emotion order from the top)."""
    if len(cols) == 0:
        return np.full((h, 1, 3), 255, np.uint8)
    cum = np.cumsum(probs[cols].astype(np.float64), axis=1)  # [W, 8]
    y = (np.arange(h) + 0.5) / h
    idx = (y[:, None, None] > cum[None, :, :]).sum(axis=2)  # [h, W]
    return _PALETTE[np.clip(idx, 0, len(EMOTIONS) - 1)]


def draw_timeline(emotion: EmotionData, width: int = 1024, strip_h: int = 36, panel_h: int = 44) -> np.ndarray:
    """RGB ``uint8 [H, W, 3]`` picture of the emotion timeline per part and fused."""
    from PIL import Image, ImageDraw
    width = max(int(width), 200)
    font = plotting.font()
    left = 8
    plot_w = width - 2 * left
    title_h = 16
    rows = [k for k in ROW_ORDER if k in emotion.parts] + [k for k in emotion.parts if k not in ROW_ORDER]
    rows.append("fused")
    legend_h = 22
    axis_h = 18
    row_h = title_h + strip_h + panel_h + 6
    H = legend_h + row_h * len(rows) + axis_h
    img = Image.new("RGB", (width, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    # legend
    x = left
    for e in EMOTIONS:
        d.rectangle([x, 5, x + 11, 16], fill=COLORS[e])
        d.text((x + 14, 4), e, fill=(0, 0, 0), font=font)
        x += 14 + int(d.textlength(e, font=font)) + 10
    for name, col in (("valence", V_COLOR), ("arousal", A_COLOR), ("conf.x weight / intensity", G_COLOR)):
        d.line([x, 11, x + 14, 11], fill=col, width=2)
        d.text((x + 17, 4), name, fill=(0, 0, 0), font=font)
        x += 17 + int(d.textlength(name, font=font)) + 10
    n = emotion.n_frames
    cols = _cols(n, plot_w)
    m = emotion.meta
    spec = []
    for r in rows:
        if r == "fused":
            spec.append((f"fused  (smoothing {m.get('smoothing_s', '?')} s, intensity {m.get('intensity', '?')}, "
                         f"target {m.get('target', 'none')} x{m.get('target_strength', 0)})",
                         emotion.probs, emotion.valence, emotion.arousal, emotion.intensity))
        else:
            p = emotion.parts[r]
            w = float(emotion.weights.get(r, 1.0))
            mc = float(p.confidence.mean()) if n else 0.0
            spec.append((f"{r}: {p.backend}  (weight {w:g}, mean confidence {mc:.2f})",
                         p.probs, p.valence, p.arousal, np.clip(p.confidence * min(w, 1.0), 0, 1)))
    canvas = np.asarray(img).copy()
    y = legend_h
    for _, probs, _, _, _ in spec:
        r0 = y + title_h
        if n:
            canvas[r0:r0 + strip_h, left:left + plot_w] = _strip(probs, cols, strip_h)
        y = r0 + strip_h + panel_h + 6
    img = Image.fromarray(canvas)
    d = ImageDraw.Draw(img)
    y = legend_h
    for title, _, v, a, g in spec:
        d.text((left, y + 1), title, fill=(0, 0, 0), font=font)
        r0 = y + title_h
        d.rectangle([left - 1, r0 - 1, left + plot_w, r0 + strip_h], outline=(120, 120, 120))
        p0 = r0 + strip_h + 2
        d.rectangle([left - 1, p0, left + plot_w, p0 + panel_h], outline=(160, 160, 160))
        mid = p0 + panel_h / 2.0
        d.line([left, mid, left + plot_w - 1, mid], fill=(215, 215, 215))
        if n:
            xs = np.arange(plot_w) + left

            def line(vals, lo, hi, col, width=2):
                yy = p0 + panel_h - 1 - (np.clip(vals[cols], lo, hi) - lo) / (hi - lo) * (panel_h - 2)
                d.line(list(zip(xs.tolist(), yy.tolist())), fill=col, width=width)
            line(g, 0.0, 1.0, G_COLOR, 1)
            line(v, -1.0, 1.0, V_COLOR)
            line(a, -1.0, 1.0, A_COLOR)
        y = r0 + strip_h + panel_h + 6
    # time axis
    dur = emotion.duration_s
    if dur > 0:
        step = plotting.tick_step(dur)
        t = 0.0
        while t <= dur + 1e-9:
            xx = left + int(round(t / dur * (plot_w - 1)))
            d.line([xx, y, xx, y + 4], fill=(0, 0, 0))
            d.text((xx + 2, y + 3), f"{t:g}s", fill=(0, 0, 0), font=font)
            t += step
    return np.asarray(img, np.uint8)
