"""Pictures and one-line summaries of ``SR_MOTION`` (for the A2M node's preview output).

:func:`draw_motion_curves` draws one panel per channel group against time: head rotation
(yaw, pitch, roll in degrees, symmetric scale fitted to the data, at least ±5°), head position
(x, y in face widths and scale - 1, at least ±0.02), mouth (0..1), other expressions (0..1)
and blinks (0..1), with a time axis in seconds.  Every frame is drawn (no decimation), so
short events such as blinks stay visible on long clips.  numpy + PIL only.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from .. import plotting
from ..types import MotionData
from .adjust import BLINKS, FACE, MOUTH

Color = Tuple[int, int, int]
PALETTE: Tuple[Color, ...] = ((214, 39, 40), (44, 160, 44), (31, 119, 180), (255, 127, 14), (148, 103, 189),
                              (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def _panels(m: MotionData) -> List[Tuple[str, Sequence[Tuple[str, np.ndarray]], float, float]]:
    """``(title, [(label, values)], lo, hi)`` per panel."""
    r = m.rotation.astype(np.float64)
    rmax = max(5.0, float(np.abs(r).max()) if m.n_frames else 0.0)
    pos = [("x", m.translation[:, 0]), ("y", m.translation[:, 1]), ("scale-1", m.scale - 1.0)]
    pmax = max(0.02, max(float(np.abs(v).max()) for _, v in pos) if m.n_frames else 0.0)
    return [
        ("head rotation (deg)", [("yaw", r[:, 0]), ("pitch", r[:, 1]), ("roll", r[:, 2])], -rmax, rmax),
        ("head position (face widths)", pos, -pmax, pmax),
        ("mouth", [(k, m.expressions[k]) for k in MOUTH], 0.0, 1.0),
        ("expressions", [(k, m.expressions[k]) for k in FACE], 0.0, 1.0),
        ("blinks", [(k, m.expressions[k]) for k in BLINKS], 0.0, 1.0),
    ]


def draw_motion_curves(motion: MotionData, width: int = 1024, panel_h: int = 90) -> np.ndarray:
    """RGB ``uint8 [H, W, 3]`` picture of the motion's channels against time (see module doc)."""
    from PIL import Image, ImageDraw
    from .adjust import _motion
    m = _motion(motion)
    width = max(int(width), 240)
    panel_h = max(int(panel_h), 30)
    font = plotting.font()
    left, right, title_h, gap, axis_h = 52, 8, 16, 6, 20
    plot_w = width - left - right
    panels = _panels(m)
    header_h = 20
    H = header_h + len(panels) * (title_h + panel_h + gap) + axis_h
    img = Image.new("RGB", (width, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((left, 3), f"SR_MOTION  {m.generator or '?'}  {m.n_frames} frames @ {m.fps:g} fps  "
                      f"({m.duration_s:.2f} s)", fill=(0, 0, 0), font=font)
    n = m.n_frames
    xs = left + (np.arange(n) + 0.5) / max(n, 1) * plot_w
    y = header_h
    for title, series, lo, hi in panels:
        x = left
        d.text((x, y + 1), title, fill=(0, 0, 0), font=font)
        x += int(d.textlength(title, font=font)) + 14
        for j, (label, _) in enumerate(series):
            c = PALETTE[j % len(PALETTE)]
            d.line([x, y + 8, x + 12, y + 8], fill=c, width=2)
            d.text((x + 15, y + 1), label, fill=(0, 0, 0), font=font)
            x += 15 + int(d.textlength(label, font=font)) + 10
        p0 = y + title_h
        d.rectangle([left - 1, p0, left + plot_w, p0 + panel_h], outline=(160, 160, 160))
        for v in (lo, hi) + ((0.0,) if lo < 0 < hi else ()):
            yy = p0 + panel_h - 1 - (v - lo) / (hi - lo) * (panel_h - 2)
            if v == 0.0 and lo < 0:
                d.line([left, yy, left + plot_w - 1, yy], fill=(215, 215, 215))
            d.text((2, yy - 7), f"{v:.3g}", fill=(90, 90, 90), font=font)
        if n:
            for j, (_, vals) in enumerate(series):
                yy = p0 + panel_h - 1 - (np.clip(np.asarray(vals, np.float64), lo, hi) - lo) / (hi - lo) * (panel_h - 2)
                pts = list(zip(xs.tolist(), yy.tolist()))
                if len(pts) == 1:
                    pts = pts * 2
                d.line(pts, fill=PALETTE[j % len(PALETTE)], width=1)
        y = p0 + panel_h + gap
    if m.duration_s > 0:
        step = plotting.tick_step(m.duration_s)
        for t in np.arange(0.0, m.duration_s + 1e-9, step):
            xx = left + int(round(t / m.duration_s * (plot_w - 1)))
            d.line([xx, y, xx, y + 4], fill=(0, 0, 0))
            d.text((xx + 2, y + 4), f"{t:g}s", fill=(0, 0, 0), font=font)
    return np.asarray(img, np.uint8)


def count_blinks(motion: MotionData, threshold: float = 0.5) -> int:
    """Number of times the left eyelid closes past ``threshold``."""
    b = motion.expressions["blink_l"] > threshold
    return int(b[0] + (b[1:] & ~b[:-1]).sum()) if len(b) else 0


def summarize_motion(motion: MotionData) -> str:
    """One line: generator, frames, blink rate, head ranges, mean mouth opening, dominant expression, and
    where the lips came from (the phone backend and why)."""
    from .adjust import _motion
    m = _motion(motion)
    if m.n_frames == 0:
        return f"{m.generator or 'motion'}: 0 frames @ {m.fps:g} fps"
    blinks = count_blinks(m)
    per_min = blinks / m.duration_s * 60.0 if m.duration_s > 0 else 0.0
    ptp = np.ptp(m.rotation, axis=0)
    face = {k: float(m.expressions[k].mean()) for k in FACE}
    top = max(face, key=face.get)
    phones = m.meta.get("phones") if isinstance(m.meta.get("phones"), dict) else {}
    lips = f"; lips from {phones['note']}" if phones.get("note") else ""
    return (f"{m.generator or 'motion'}: {m.n_frames} frames @ {m.fps:g} fps ({m.duration_s:.2f} s); "
            f"head range yaw {ptp[0]:.1f} / pitch {ptp[1]:.1f} / roll {ptp[2]:.1f} deg; "
            f"mean jaw {float(m.expressions['jaw_open'].mean()):.2f}; {blinks} blinks ({per_min:.0f}/min); "
            f"strongest expression {top} {face[top]:.2f}{lips}")


__all__ = ["count_blinks", "draw_motion_curves", "summarize_motion"]
