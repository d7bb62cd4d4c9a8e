"""Reading and normalising images: one place for the pixel conventions every stage shares.

* :func:`load_image` opens an image file (EXIF rotation applied, mode kept: grey, RGBA, 16-bit grey);
  :func:`load_images` opens the paths of a list and names every item;
* :func:`side_by_side` composes several portraits left to right into one picture (conversations);
* :func:`to_rgb_float` turns any image value (numpy, torch, PIL; grey, RGB, RGBA; uint8, uint16,
  float) into float32 ``[H, W, 3]`` in 0..1: grey is repeated to RGB, alpha is composited over white;
* :func:`to_rgb_u8` does the same into uint8 ``[H, W, 3]`` without a float copy of the whole
  image (row by row), for large photos;
* :data:`MAX_WORK_SIDE`: the longest side the stages work at (larger references are cropped to
  the face and scaled by the face stage; see ``docs/face.md``).
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from .errors import InvalidDataError, SynchroRaMaError

#: smallest image side the face detector can work with
MIN_IMAGE_SIDE = 32
#: longest side of a reference the stages work at (and so of the warp renderer's video)
MAX_WORK_SIDE = 1024
#: rows converted at once by :func:`to_rgb_u8` (bounds its temporary float memory)
_ROWS = 256


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
        with warnings.catch_warnings():
            # PIL warns above ~89 megapixels; large photos are expected (the face stage crops them)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                im = ImageOps.exif_transpose(im)
    except Image.DecompressionBombError as e:
        raise ImageFileError(f"{what} ({path}) is too large to decode safely ({e}); scale it down to at most "
                             f"~170 megapixels (SynchroRaMa works at {MAX_WORK_SIDE} px around the face anyway)") from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ImageFileError(f"{what} ({path}) cannot be read as an image ({e}); use a png, jpg or webp file") from e
    if im.mode in ("I;16", "I;16B", "I;16L"):      # 16-bit grey: keep its depth (to_rgb_float scales uint16)
        return np.asarray(im).astype(np.uint16)
    if im.mode not in ("RGB", "RGBA", "L", "LA"):
        im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
    return im


def load_images(images, missing: str) -> tuple:
    """``(values, sources)`` of a list of images: each path opened (:func:`load_image`, numbered in the
    list) and named by its path, any other value (array, PIL image) kept and named by its file name or
    ``"image i"``.  An empty list is an :class:`~.errors.InvalidDataError` saying ``missing``."""
    images = list(images)
    if not images:
        raise InvalidDataError(missing)
    vals, sources = [], []
    for i, im in enumerate(images):
        if isinstance(im, (str, os.PathLike)):
            vals.append(load_image(im, i, len(images)))
            sources.append(os.fspath(im))
        else:
            vals.append(im)
            sources.append(getattr(im, "filename", "") or f"image {i}")
    return vals, sources


def _as_channels(image, what: str) -> np.ndarray:
    """Any image value -> an ``[H, W, C]`` numpy array (C in 1..4), no copy where none is needed."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().float().numpy()
    elif hasattr(image, "mode") and hasattr(image, "size"):  # PIL: these modes are arrays as they are
        image = np.asarray(image if image.mode in ("RGB", "RGBA", "L", "LA") else
                           image.convert("RGBA") if "A" in image.mode else image.convert("RGB"))
    a = np.asarray(image)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"{what}: expected an image [H, W] or [H, W, 1|3|4], got shape {list(a.shape)}")
    h, w = a.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise ImageError(f"{what} is only {w}x{h} pixels; face analysis needs at least "
                         f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} (a portrait of 256 px or more works best)")
    return a


def _rgb_float(a: np.ndarray, what: str) -> np.ndarray:
    """``[h, W, C]`` (uint8, uint16 or float) -> float32 ``[h, W, 3]`` in 0..1 (the pixel conventions)."""
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
    return a


def to_rgb_float(image, what: str = "the image") -> np.ndarray:
    """Any of [H, W], [H, W, 1|3|4] (float 0..1 or uint8), a torch tensor, or a PIL image ->
    float32 ``[H, W, 3]`` in 0..1.  Grey is repeated to RGB; alpha is composited over white."""
    return np.ascontiguousarray(_rgb_float(_as_channels(image, what), what))


def to_rgb_u8(image, what: str = "the image") -> np.ndarray:
    """:func:`to_rgb_float`'s result as uint8 ``[H, W, 3]``, converted a few rows at a time, so a large
    photo never has a float copy (an RGB uint8 image is returned as it is)."""
    a = _as_channels(image, what)
    if a.dtype == np.uint8 and a.shape[2] == 3:
        return np.ascontiguousarray(a)
    out = np.empty(a.shape[:2] + (3,), np.uint8)
    for r in range(0, a.shape[0], _ROWS):
        out[r:r + _ROWS] = _rgb_float(a[r:r + _ROWS], what) * 255.0 + 0.5
    return out


def side_by_side(images, height: int = 0, what: str = "portrait") -> np.ndarray:
    """Several portraits composed left to right into one picture (float32 ``[H, W, 3]`` in 0..1).

    Each image (any form :func:`to_rgb_float` takes) is scaled to a common ``height`` (0: the
    tallest one's, at most 1024 px) keeping its aspect ratio; widths add up.  This is how separate
    portraits become one conversation picture (every face then lives in one frame).
    """
    from PIL import Image
    arrs = [to_rgb_float(im, f"{what} {i + 1} of {len(images)}") for i, im in enumerate(images)]
    if not arrs:
        raise ImageError(f"no {what} given")
    h = int(height) or min(max(a.shape[0] for a in arrs), 1024)
    if h < MIN_IMAGE_SIDE:
        raise ImageError(f"side_by_side height must be at least {MIN_IMAGE_SIDE} px, got {h}")
    parts = []
    for a in arrs:
        w = max(1, int(round(a.shape[1] * h / a.shape[0])))
        if a.shape[:2] != (h, w):
            u8 = Image.fromarray((a * 255.0 + 0.5).astype(np.uint8)).resize((w, h), Image.LANCZOS)
            a = np.asarray(u8, np.float32) / 255.0
        parts.append(a)
    return np.ascontiguousarray(np.concatenate(parts, axis=1))
