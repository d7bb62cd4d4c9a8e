"""Reading and normalising images: one place for the pixel conventions every stage shares.

* :func:`load_image` opens an image file (EXIF rotation applied, mode kept: grey, RGBA, 16-bit grey);
* :func:`to_rgb_float` turns any image value (numpy, torch, PIL; grey, RGB, RGBA; uint8, uint16,
  float) into float32 ``[H, W, 3]`` in 0..1: grey is repeated to RGB, alpha is composited over white.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import InvalidDataError, SynchroRaMaError

#: smallest image side the face detector can work with
MIN_IMAGE_SIDE = 32


class ImageError(InvalidDataError):
    """An image value that cannot be used at all (wrong shape, too small, NaN)."""


class ImageFileError(SynchroRaMaError, ValueError):
    """A reference image file that cannot be read as an image."""


class ImageFileNotFoundError(SynchroRaMaError, FileNotFoundError):
    """A reference image file that does not exist."""


def load_image(path: str, index: int = 0, total: int = 1):
    """Open an image file as a PIL image with EXIF rotation applied (mode kept: grey, RGBA...)."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    path = os.fspath(path)
    what = f"reference image {index + 1} of {total}" if total > 1 else "reference image"
    if not os.path.exists(path):
        raise ImageFileNotFoundError(f"{what} file not found: {path}")
    if os.path.isdir(path):
        raise ImageFileError(f"{what} ({path}) is a folder, not an image file")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ImageFileError(f"{what} ({path}) cannot be read as an image ({e}); use a png, jpg or webp file") from e
    if im.mode in ("I;16", "I;16B", "I;16L"):      # 16-bit grey: keep its depth (to_rgb_float scales uint16)
        return np.asarray(im).astype(np.uint16)
    if im.mode not in ("RGB", "RGBA", "L", "LA"):
        im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
    return im


def to_rgb_float(image, what: str = "the image") -> np.ndarray:
    """Any of [H, W], [H, W, 1|3|4] (float 0..1 or uint8), a torch tensor, or a PIL image ->
    float32 ``[H, W, 3]`` in 0..1.  Grey is repeated to RGB; alpha is composited over white."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().float().numpy()
    elif hasattr(image, "mode") and hasattr(image, "size"):  # PIL
        image = np.asarray(image.convert("RGBA") if "A" in image.mode else image.convert("RGB"))
    a = np.asarray(image)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"{what}: expected an image [H, W] or [H, W, 1|3|4], got shape {list(a.shape)}")
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    else:
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise ImageError(f"{what} contains NaN or infinite pixel values")
        a = np.clip(a, 0.0, 1.0)
    c = a.shape[2]
    if c in (2, 4):  # with alpha: composite over white
        alpha = a[:, :, -1:]
        a = a[:, :, :-1] * alpha + (1.0 - alpha)
        c -= 1
    if c == 1:
        a = np.repeat(a, 3, axis=2)
    h, w = a.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise ImageError(f"{what} is only {w}x{h} pixels; face analysis needs at least "
                             f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} (a portrait of 256 px or more works best)")
    return np.ascontiguousarray(a)
