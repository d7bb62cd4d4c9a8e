"""The warp kernel: rasterise a deformed triangle mesh and sample the reference image through it.

For every target triangle, every output pixel inside it gets the barycentric coordinates of
the pixel in the *target* triangle, maps them onto the triangle's *source* vertices (a
piecewise-affine backward map) and samples the reference bilinearly there.  A depth buffer
resolves fold-overs (the nearer triangle wins) and triangles whose target orientation is
reversed (back-facing: folded away or a closed gap) are skipped.

Compiled with numba (a dependency of librosa, so present wherever the audio stage runs);
the compiled code is cached on disk so later processes start fast.  Pixel ``(x, y)`` of an
image sits at coordinates ``(x, y)``: the same convention in source and target, so the
identity map reproduces the reference exactly.
"""
from __future__ import annotations

import numpy as np

try:
    from numba import njit
except ImportError as e:  # pragma: no cover - numba comes with librosa
    raise ImportError("the SynchroRaMa warp renderer needs numba (installed with librosa): "
                      "pip install numba") from e


@njit(cache=True, nogil=True)
def _sample(img, sx, sy, out, py, px):
    h = img.shape[0]
    w = img.shape[1]
    if sx < 0.0:
        sx = 0.0
    elif sx > w - 1.0:
        sx = w - 1.0
    if sy < 0.0:
        sy = 0.0
    elif sy > h - 1.0:
        sy = h - 1.0
    x0 = int(sx)
    y0 = int(sy)
    fx = sx - x0
    fy = sy - y0
    x1 = x0 + 1 if x0 + 1 < w else x0
    y1 = y0 + 1 if y0 + 1 < h else y0
    w00 = (1.0 - fx) * (1.0 - fy)
    w01 = fx * (1.0 - fy)
    w10 = (1.0 - fx) * fy
    w11 = fx * fy
    for c in range(img.shape[2]):
        out[py, px, c] = (w00 * img[y0, x0, c] + w01 * img[y0, x1, c]
                          + w10 * img[y1, x0, c] + w11 * img[y1, x1, c])


@njit(cache=True, nogil=True)
def warp_triangles(out, zbuf, img, tgt, src, z, active):
    """Draw the ``active`` triangles into ``out`` (in place); return the number of pixels written.

    out: [H, W, C] float32, zbuf: [H, W] float32 (reset by the caller), img: [Hs, Ws, C] float32,
    tgt and src: [T, 3, 2] float64 vertex positions (x, y), z: [T, 3] float64 depth (smaller = nearer),
    active: [T] bool.  Front-facing triangles have a positive :func:`signed_area` in image
    coordinates; others are skipped as back-facing.  Each row of a triangle is walked over its
    exact span; source position and depth are affine in the pixel position, so they are
    advanced by constant steps.
    """
    H = out.shape[0]
    W = out.shape[1]
    n = 0
    eps = 1e-7
    for t in range(tgt.shape[0]):
        if not active[t]:
            continue
        x0 = tgt[t, 0, 0]
        y0 = tgt[t, 0, 1]
        x1 = tgt[t, 1, 0]
        y1 = tgt[t, 1, 1]
        x2 = tgt[t, 2, 0]
        y2 = tgt[t, 2, 1]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if area <= 1e-9:
            continue
        ymin = int(np.ceil(min(y0, min(y1, y2)) - eps))
        ymax = int(np.floor(max(y0, max(y1, y2)) + eps))
        if ymin < 0:
            ymin = 0
        if ymax > H - 1:
            ymax = H - 1
        if ymin > ymax:
            continue
        inv = 1.0 / area
        # barycentric weights are affine in (x, y): b_i = a_i + bx_i * x + by_i * y
        bx0 = (y1 - y2) * inv
        by0 = (x2 - x1) * inv
        a0 = (x1 * y2 - x2 * y1) * inv
        bx1 = (y2 - y0) * inv
        by1 = (x0 - x2) * inv
        a1 = (x2 * y0 - x0 * y2) * inv
        bx2 = -bx0 - bx1
        by2 = -by0 - by1
        a2 = 1.0 - a0 - a1
        # source position and depth as affine functions of (x, y)
        sxa = src[t, 0, 0]
        sxb = src[t, 1, 0]
        sxc = src[t, 2, 0]
        sya = src[t, 0, 1]
        syb = src[t, 1, 1]
        syc = src[t, 2, 1]
        za = z[t, 0]
        zb = z[t, 1]
        zc = z[t, 2]
        dsx = bx0 * sxa + bx1 * sxb + bx2 * sxc
        dsy = bx0 * sya + bx1 * syb + bx2 * syc
        dz = bx0 * za + bx1 * zb + bx2 * zc
        for py in range(ymin, ymax + 1):
            # span where all three weights are >= 0: b_i(x) = c_i + bx_i * x
            lo = -1e30
            hi = 1e30
            c0 = a0 + by0 * py
            c1 = a1 + by1 * py
            c2 = a2 + by2 * py
            if bx0 > 1e-12:
                lo = max(lo, (-eps - c0) / bx0)
            elif bx0 < -1e-12:
                hi = min(hi, (-eps - c0) / bx0)
            elif c0 < -eps:
                continue
            if bx1 > 1e-12:
                lo = max(lo, (-eps - c1) / bx1)
            elif bx1 < -1e-12:
                hi = min(hi, (-eps - c1) / bx1)
            elif c1 < -eps:
                continue
            if bx2 > 1e-12:
                lo = max(lo, (-eps - c2) / bx2)
            elif bx2 < -1e-12:
                hi = min(hi, (-eps - c2) / bx2)
            elif c2 < -eps:
                continue
            if lo < 0.0:
                lo = 0.0
            if hi > W - 1.0:
                hi = W - 1.0
            xs = int(np.ceil(lo))
            xe = int(np.floor(hi))
            if xs > xe:
                continue
            # values at (xs, py)
            b0 = c0 + bx0 * xs
            b1 = c1 + bx1 * xs
            b2 = 1.0 - b0 - b1
            sx = b0 * sxa + b1 * sxb + b2 * sxc
            sy = b0 * sya + b1 * syb + b2 * syc
            zz = b0 * za + b1 * zb + b2 * zc
            for px in range(xs, xe + 1):
                if zz <= zbuf[py, px]:
                    zbuf[py, px] = zz
                    _sample(img, sx, sy, out, py, px)
                    n += 1
                sx += dsx
                sy += dsy
                zz += dz
    return n


@njit(cache=True, nogil=True)
def sample_map(out, img, mx, my):
    """``out[y, x] = img`` sampled bilinearly at ``(mx[y, x], my[y, x])`` (clamped at the edges)."""
    for py in range(out.shape[0]):
        for px in range(out.shape[1]):
            _sample(img, mx[py, px], my[py, px], out, py, px)


def signed_area(p: np.ndarray) -> np.ndarray:
    """Twice the signed area ``[T]`` of triangles ``[T, 3, 2]`` (positive = front-facing: clockwise as
    seen on screen, since image y points down)."""
    return ((p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1])
            - (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1]))
