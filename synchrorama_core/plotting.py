"""Small drawing helpers shared by the preview pictures (emotion timeline, motion curves):
the label font and the time-axis tick spacing.  PIL only."""
from __future__ import annotations


def font(size: int = 12):
    """PIL's default font at ``size`` px (the bitmap default on Pillow builds without FreeType)."""
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType sizes
        return ImageFont.load_default()


def tick_step(duration_s: float, max_ticks: int = 12) -> float:
    """A round time-axis tick spacing (seconds) giving at most ``max_ticks`` ticks over ``duration_s``."""
    for s in (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0):
        if duration_s / s <= max_ticks:
            return s
    import math
    return float(math.ceil(duration_s / max_ticks / 600.0) * 600.0)
