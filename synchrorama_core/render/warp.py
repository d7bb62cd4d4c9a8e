"""Warp one reference portrait so its face follows target landmarks.

:class:`ReferenceWarper` precomputes everything that depends only on the reference (control
mesh, colours of lips, teeth, lid skin and lashes); :meth:`ReferenceWarper.render` then makes
one frame from a target landmark set:

1. the head's 2D similarity (rotation, scale, shift) is estimated from the landmarks that move
   rigidly with the skull; the hair ring follows it fully above the head and partly at the
   sides, the background ring a little, the image border not at all;
2. the mesh is rasterised with a depth buffer (:mod:`.raster`); triangles that do not move are
   skipped, so with no head motion everything outside the moving part of the face is an exact
   copy of the reference;
3. where the mouth opens wider than in the reference, the interior is painted: the
   reference's own upper and lower interior (teeth) stay attached to their lips and the new
   gap between them becomes a dark cavity with a teeth hint and the tongue when wide open;
4. where an upper lid comes down, the eyeball stays in place (the lid covers it instead of
   squashing it) and the lid is painted in the reference's lid-skin colour with a lash line.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..geometry import topology as topo
from ..types import LANDMARK_COUNT
from . import synth
from .mesh import EYE_L, EYE_R, MOUTH, N_MESH, Chains, ControlMesh, build_mesh
from .raster import warp_triangles

_FAR = 1e6
#: share of the reference's mouth opening that stays attached to the upper lip when it opens wider
UPPER_SHARE = 0.65
#: the reference's own mouth interior is reused when its inner-lip gap exceeds this share of the mouth width
REAL_INTERIOR = 0.05
#: the painted lid fades in over this fraction of the eye's width, above the old lash band
LASH_FADE = 0.1
#: the closing lid shows the skin above it mirrored down at the photo's own scale (never stretched); the
#: mirrored window of skin is at most this high (fraction of the eye's width) ...
LID_WINDOW = 0.25
#: ... and at least this high, and it ends this share of the way from the lid line up to the brow
LID_WINDOW_MIN, LID_BROW_SHARE = 0.06, 0.6
#: the lid fades into the skin above it over this fraction of the eye's width (at most half the lid)
LID_FADE = 0.2
#: below this much mirrorable skin (fraction of the eye's width) the lid blends to its smooth skin colour
LID_SKIN_ENOUGH = 0.12
#: share of the lid's colour taken from the mirrored skin (the rest: the smooth lit lid-skin colour)
LID_GRAIN = 0.7


@dataclass
class WarpOptions:
    """Options of the warp (also the node's widgets)."""

    mouth_interior: bool = True   #: paint a mouth interior where the mouth opens
    teeth: bool = True            #: include a teeth hint in the painted interior
    eyelids: bool = True          #: paint closing upper lids (blinks) instead of stretching skin
    hair: float = 0.35            #: hair ring distance beyond the face oval (fraction of the face radius)
    background: float = 1.0       #: background ring distance beyond the face oval
    hair_follow: float = 1.0      #: how much hair and background follow the head (0 = stay still)

    def __post_init__(self):
        for k in ("hair", "background", "hair_follow"):
            v = float(getattr(self, k))
            if not np.isfinite(v) or v < 0 or v > 4:
                raise InvalidDataError(f"warp option {k}={v!r} must lie in [0, 4]")
            setattr(self, k, v)
        if self.background < self.hair:
            raise InvalidDataError(f"warp option background ({self.background}) must be >= hair ({self.hair})")


def similarity(src: np.ndarray, dst: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Least-squares 2D similarity ``dst ~ A @ src + t`` (Umeyama); returns ``(A [2, 2], t [2])``."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - ms, dst - md
    var = (s ** 2).sum()
    if var < 1e-12:
        return np.eye(2), md - ms
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    r = u @ e @ vt
    scale = (sig * np.diag(e)).sum() / (var / len(src))
    a = scale * r
    return a, md - a @ ms


def _check_landmarks(lm, what: str) -> np.ndarray:
    a = np.asarray(lm, dtype=np.float64)
    if a.shape != (LANDMARK_COUNT, 3) and a.shape != (LANDMARK_COUNT, 2):
        raise InvalidDataError(f"{what}: landmarks must be [{LANDMARK_COUNT}, 3], got {list(a.shape)}")
    if not np.isfinite(a).all():
        raise InvalidDataError(f"{what}: landmarks contain NaN or infinite values")
    if a.shape[1] == 2:
        a = np.concatenate([a, np.zeros((LANDMARK_COUNT, 1))], axis=1)
    return a


def _frame(ch_pts: np.ndarray, down_hint: np.ndarray) -> np.ndarray:
    """Unit vector across a chain's corner axis, on the side of ``down_hint``."""
    ax = ch_pts[-1] - ch_pts[0]
    n = np.array([-ax[1], ax[0]]) / max(np.linalg.norm(ax), 1e-9)
    return n if n @ down_hint >= 0 else -n


class ReferenceWarper:
    """Per-reference precomputation and the per-frame warp (see the module doc)."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, options: Optional[WarpOptions] = None,
                 what: str = "the reference"):
        img = np.asarray(image)
        if img.ndim in (2, 3) and min(img.shape[:2]) >= 8 and (img.ndim == 2 or img.shape[2] in (1, 2, 4)):
            from ..image import to_rgb_float    # grey repeated to RGB, alpha composited over white
            img = to_rgb_float(img, what)
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 8 or img.shape[1] < 8:
            raise InvalidDataError(f"{what}: image must be [H, W, 3] (or grey / RGBA) with H, W >= 8, "
                                   f"got {list(img.shape)}")
        if img.dtype == np.uint8:
            img = img.astype(np.float32) / 255.0
        self.image = np.ascontiguousarray(img, dtype=np.float32)
        if not np.isfinite(self.image).all():
            raise InvalidDataError(f"{what}: image contains NaN or infinite values")
        self.options = options or WarpOptions()
        self.what = what
        self.landmarks = _check_landmarks(landmarks, what)
        h, w = self.image.shape[:2]
        self.mesh: ControlMesh = build_mesh(self.landmarks, (h, w), hair=self.options.hair,
                                            background=self.options.background, what=what)
        m = self.mesh
        self.tri_src = m.src[m.tris]
        self.face_size = float(topo.face_size(self.landmarks))
        self.z_bias = np.zeros(len(m.tris))
        self.z_bias[np.isin(m.kind, (MOUTH, EYE_R, EYE_L))] = 0.2 * self.face_size
        self.down = -m.up
        self._eye_override = [self._override_slots(m.eye_r, EYE_R), self._override_slots(m.eye_l, EYE_L)]
        self._colours()

    # ------------------------------------------------------------------ setup

    def _override_slots(self, ch: Chains, kind: int):
        """(triangle, corner, chain position) of every inner upper-lid vertex in the eye's strip."""
        pos = {int(v): i for i, v in enumerate(ch.upper[1:-1], start=1)}
        sel = np.where(self.mesh.kind == kind)[0]
        tt, kk, ii = [], [], []
        for t in sel:
            for k in range(3):
                v = int(self.mesh.tris[t, k])
                if v in pos:
                    tt.append(t)
                    kk.append(k)
                    ii.append(pos[v])
        return np.asarray(tt, np.int64), np.asarray(kk, np.int64), np.asarray(ii, np.int64)

    def _colours(self) -> None:
        img, lm, m = self.image, self.landmarks[:, :2], self.mesh
        lips = set(topo.group("lips").tolist())
        lip_tris = [t for t in topo.TRIANGLES.tolist() if set(t) <= lips]
        cents = lm[np.asarray(lip_tris)].mean(axis=1) if lip_tris else lm[topo.LIPS_OUTER]
        self.lip_rgb = np.median(synth.bilinear(img, cents[:, 0], cents[:, 1]), axis=0).astype(np.float32)
        stable = lm[m.stable]
        skin = synth.bilinear(img, stable[:, 0], stable[:, 1])
        self.skin_lum = float(np.median(synth.luminance(skin)))
        self.skin_rgb = np.median(skin, axis=0).astype(np.float32)
        mu, ml = lm[m.mouth.upper], lm[m.mouth.lower]
        self.mouth_down_src = _frame(mu, self.down)
        src_band = synth.band(mu, ml, self.mouth_down_src, img.shape)
        self.src_open = float(topo.mouth_opening(self.landmarks))
        self.mouth_col = synth.mouth_colours(img, self.lip_rgb, self.skin_rgb, src_band, self.src_open)
        self.eye_skin, self.eye_lash, self.eye_e2, self.lash_depth, self.lid_window = [], [], [], [], []
        for ch, brow in ((m.eye_r, topo.RIGHT_BROW), (m.eye_l, topo.LEFT_BROW)):
            up_pts = lm[ch.upper]
            ew = float(np.linalg.norm(up_pts[-1] - up_pts[0]))
            e2 = _frame(up_pts, self.down)
            samples = np.stack([synth.bilinear(img, *(up_pts - e2 * (k * ew)).T)
                                for k in (0.10, 0.15, 0.20, 0.25, 0.30)], axis=1)      # [K, 5, 3]
            lum = synth.luminance(samples)
            med = np.median(lum)
            skin = np.empty((len(up_pts), 3), np.float32)
            for i in range(len(up_pts)):
                ok = lum[i] >= 0.75 * med
                skin[i] = np.median(samples[i][ok] if ok.any() else samples[i], axis=0)
            skin[0], skin[-1] = skin[1], skin[-2]
            line = synth.bilinear(img, *(up_pts[1:-1] + e2 * 0.5).T)
            dark = line[np.argsort(synth.luminance(line))[:max(1, len(line) // 3)]].mean(axis=0)
            self.eye_skin.append(skin)
            self.eye_lash.append(np.minimum(dark, 0.45 * skin.mean(axis=0)).astype(np.float32))
            self.eye_e2.append(e2)
            # thickness of the dark lash band above each upper-lid point: where the skin tone returns
            steps = np.linspace(0.0, 0.3 * ew, 16)
            prof = synth.luminance(np.stack([synth.bilinear(img, *(up_pts - e2 * d).T) for d in steps], axis=1))
            ref_l = np.median(lum, axis=1)[:, None]
            ok = prof >= 0.85 * ref_l
            first = np.where(ok.any(axis=1), ok.argmax(axis=1), len(steps) - 1)
            depth = np.clip(steps[first] + 0.5, 0.06 * ew, 0.2 * ew)
            self.lash_depth.append(depth)
            self.lid_window.append(self._lid_window(up_pts, e2, ew, depth, lm[brow]))

    def _lid_window(self, up_pts, e2, ew: float, depth, brow) -> float:
        """How much skin above the lash band (photo pixels) a closing lid may mirror: up to where the
        photo darkens (a brow, a glasses frame, a crease shadow) and short of the brow."""
        top_of_cover = float(depth.max()) + LASH_FADE * ew
        to_brow = float(np.min((up_pts.mean(axis=0) - brow) @ e2))
        limit = min(LID_WINDOW * ew, max(LID_BROW_SHARE * to_brow - top_of_cover, LID_WINDOW_MIN * ew))
        steps = np.arange(0.0, limit + 0.5, 0.5)
        mid = up_pts[1:-1]
        start = depth[1:-1, None] + 0.5 + steps[None, :]
        prof = synth.luminance(np.stack([synth.bilinear(self.image, *(mid - e2 * d[:, None]).T)
                                         for d in start.T], axis=1))                  # [K, S]
        base = float(np.median(prof[:, :3]))
        dark = prof < 0.8 * base
        first = np.where(dark.any(axis=1), dark.argmax(axis=1), len(steps) - 1)
        return float(max(steps[int(np.quantile(first, 0.25))], 1.0))

    # ------------------------------------------------------------------ per frame

    def head_similarity(self, target: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """2D similarity of the head from the reference to ``target`` (stable landmarks)."""
        st = self.mesh.stable
        return similarity(self.landmarks[st, :2], np.asarray(target, np.float64)[st, :2])

    def target_vertices(self, target: np.ndarray, head: Tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        m = self.mesh
        v = m.src.copy()
        v[:N_MESH] = target[:N_MESH, :2]
        a, t = head
        f = self.options.hair_follow
        for idx, wgt in ((m.ring1, m.w_ring1), (m.ring2, m.w_ring2)):
            p = m.src[idx]
            moved = p @ a.T + t
            v[idx] = p + (f * wgt)[:, None] * (moved - p)
        return v

    def render(self, target, neutral=None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """One frame [H, W, 3] float32 with the face moved to ``target`` [478, 3] (reference pixels).

        ``neutral``: optionally the same head pose without expressions (from the motion); it
        gives an exact head transform (identity when the pose is zero) and the lid positions
        a blink starts from.  Without it both are estimated from ``target``.
        """
        tgt = _check_landmarks(target, f"{self.what}: target")
        neu = None if neutral is None else _check_landmarks(neutral, f"{self.what}: neutral target")
        m = self.mesh
        head = self.head_similarity(neu if neu is not None else tgt)
        verts = self.target_vertices(tgt, head)
        zv = np.full(m.n_vertices, _FAR)
        zv[:N_MESH] = tgt[:N_MESH, 2]
        tri_t = verts[m.tris]
        tri_z = zv[m.tris] + self.z_bias[:, None]
        tri_s = self.tri_src
        scale = float(np.sqrt(abs(np.linalg.det(head[0]))))
        eye_info = []
        for e, ch in enumerate((m.eye_r, m.eye_l)):
            info = self._eye_state(ch, tgt, neu, head, scale)
            if info is not None:
                info["eye"] = e
            eye_info.append(info)
            if info is None:
                continue
            if tri_s is self.tri_src:
                tri_s = self.tri_src.copy()
            # the eyeball stays put under the closing lid (which is painted over it below)
            tt, kk, ii = self._eye_override[e]
            tri_s[tt, kk] = info["src_upper"][ii]
        active = np.abs(tri_t - tri_s).max(axis=(1, 2)) > 1e-4
        h, w = self.image.shape[:2]
        if out is None:
            out = self.image.copy()
        else:
            out[...] = self.image
        if active.any():
            zbuf = np.full((h, w), np.inf, np.float32)
            warp_triangles(out, zbuf, self.image, tri_t, tri_s, tri_z, active)
        if self.options.mouth_interior:
            self._paint_mouth(out, tgt, head, scale)
        if self.options.eyelids:
            for ch, info, skin, lash in zip((m.eye_r, m.eye_l), eye_info, self.eye_skin, self.eye_lash):
                if info is not None:
                    self._paint_lid(out, ch, tgt, info, skin, lash, head)
        return out

    # ------------------------------------------------------------------ eyes

    def _eye_state(self, ch: Chains, tgt, neu, head, scale) -> Optional[dict]:
        """Where the upper lid came down: the eyeball's source positions and the open lid line."""
        src = self.landmarks[:, :2]
        u, l = ch.upper, ch.lower
        il = np.arange(len(u)) * (len(l) - 1) / max(len(u) - 1, 1)
        s_up, s_lo = src[u], synth.chain_at(src[l], il)
        t_up, t_lo = tgt[u, :2], synth.chain_at(tgt[l, :2], il)
        a = head[0]
        if neu is not None:
            open_up = neu[u, :2] - synth.chain_at(neu[l, :2], il) + t_lo
        else:
            open_up = (s_up - s_lo) @ a.T + t_lo
        gap_o = np.linalg.norm(open_up - t_lo, axis=1)
        gap_t = np.linalg.norm(t_up - t_lo, axis=1)
        closing = gap_o - gap_t
        if closing[1:-1].max() <= 0.25:
            return None
        f = np.clip(gap_t / np.maximum(gap_o, 1e-6), 0, 1)[:, None]
        src_upper = s_lo + f * (s_up - s_lo)
        open_up[0], open_up[-1] = t_up[0], t_up[-1]
        return {"src_upper": src_upper, "open_up": open_up, "closing": 1.0 - f[:, 0]}

    def _paint_lid(self, out, ch: Chains, tgt, info, skin, lash, head) -> None:
        """Paint the lid from the open lid line (plus the old lash band above it) down to the new one.

        The texture is the reference's own skin above the lid, mirrored down from the lid's top edge
        at the photo's scale (so it joins the skin around it and keeps its grain and pores, instead
        of a thin strip stretched into a flat patch), reflected back and forth within a window that
        ends below the brow; tone-matched to the skin around it, shaded like a lid over a round
        eyeball, with a lash line along the lid's new lower edge.
        """
        e = info["eye"]
        t_up = tgt[ch.upper, :2]
        down = head[0] @ self.down
        n = _frame(t_up, down)
        ew = float(np.linalg.norm(t_up[-1] - t_up[0]))
        scale = float(np.sqrt(abs(np.linalg.det(head[0]))))
        closing = info["closing"]
        cover = (self.lash_depth[e] * scale + LASH_FADE * ew) * closing     # above the open lid line
        top = info["open_up"] - cover[:, None] * n[None, :]
        b = synth.band(top, t_up, down, out.shape)
        if b is None:
            return
        v = b.t / b.gap
        src_up = self.landmarks[ch.upper, :2]
        e2 = self.eye_e2[e]
        idx = np.arange(len(src_up))
        inv = 1.0 / max(scale, 1e-6)
        # the band's top edge in the photo lies `cover` above the open lid line; never start inside the lashes
        start = np.maximum(np.interp(b.iu, idx, cover) * inv, np.interp(b.iu, idx, self.lash_depth[e]) + 0.5)
        window = self.lid_window[e]
        ew_s = float(np.linalg.norm(src_up[-1] - src_up[0]))
        x = np.mod(b.t * inv, 2.0 * window)
        mirrored = np.where(x <= window, x, 2.0 * window - x)
        sp = synth.chain_at(src_up, b.iu) - e2[None, :] * (start + mirrored)[:, None]
        # the grain of the mirrored skin over the lid's lit skin colour; with little skin between the
        # lashes and a brow or a glasses frame (mirroring it would stripe the lid) the smooth colour leads
        keep = LID_GRAIN * min(window / (LID_SKIN_ENOUGH * ew_s), 1.0)
        col = keep * synth.bilinear(self.image, sp[:, 0], sp[:, 1]) + (1.0 - keep) * synth.chain_at(skin, b.iu)
        # the lid fades into the skin above it over its upper part (no visible seam), opaque further down
        fade = np.maximum(np.minimum(LID_FADE * ew, 0.5 * b.gap), 1.0)
        # tone: the lid's top joins the skin just above its top edge as it is in this frame (often a
        # crease shadow); its body has the lit lid-skin colour; then it is shaded like a lid over a
        # round eyeball
        rim = b.t < fade
        if rim.sum() >= 4:
            above = np.concatenate([top - n[None, :] * d for d in (1.0, 2.0, 3.0)])
            sky = synth.bilinear(out, above[:, 0], above[:, 1])
            g_top = np.clip(np.median(sky, axis=0) / np.maximum(np.median(col[rim], axis=0), 1e-3), 0.7, 1.4)
            g_body = np.clip(np.median(skin, axis=0) / np.maximum(np.median(col, axis=0), 1e-3), 0.7, 1.4)
            s = synth._smooth(np.clip(b.t / (2.0 * fade), 0, 1))[:, None]
            col = col * (g_top[None, :] * (1 - s) + g_body[None, :] * s).astype(col.dtype)
        col = col * (1.0 - 0.12 * v - 0.12 * (2 * b.u - 1) ** 2)[:, None]
        lw = max(1.0, 0.05 * ew)
        la = (np.clip(1.0 - (b.gap - b.t) / lw, 0, 1) * 0.85)[:, None]
        col = col * (1 - la) + lash[None, :] * la
        a = (b.alpha * synth._smooth(b.t / fade))[:, None]
        out[b.ys, b.xs] = out[b.ys, b.xs] * (1 - a) + col * a

    # ------------------------------------------------------------------ mouth

    def _paint_mouth(self, out, tgt, head, scale) -> None:
        """Paint the inner-lip opening: the reference's own interior (its teeth) stays attached to
        the lips it belongs to, shifted and cropped but never stretched; the rest is the synthetic
        interior of :func:`synth.mouth_interior` (cavity, tongue, both rows of teeth)."""
        m = self.mesh
        src = self.landmarks[:, :2]
        a_head, t_head = head
        ring = np.r_[m.mouth.upper, m.mouth.lower]
        if np.abs(tgt[ring, :2] - (src[ring] @ a_head.T + t_head)).max() < 0.3:
            return                                # the reference's own mouth, moved with the head: the warp did it
        tu, tl = tgt[m.mouth.upper, :2], tgt[m.mouth.lower, :2]
        down = a_head @ self.down
        b = synth.band(tu, tl, _frame(tu, down), out.shape, feather=1.0)
        if b is None:
            return
        width = float(np.linalg.norm(tgt[topo.MOUTH_CORNER_LEFT, :2] - tgt[topo.MOUTH_CORNER_RIGHT, :2]))
        if self.src_open <= REAL_INTERIOR:
            col = synth.mouth_interior(b, width, self.mouth_col, teeth=self.options.teeth)
        else:                                     # the reference shows its own interior (teeth): reuse it
            su = synth.chain_at(src[m.mouth.upper], b.iu)
            sl = synth.chain_at(src[m.mouth.lower], b.il)
            ds = self.mouth_down_src
            g_src = np.maximum((sl - su) @ ds, 0.0) * scale          # reference gap, in target pixels
            keep = np.minimum(g_src, b.gap)
            # the upper teeth are fixed to the skull and stay with the upper lip; the rest goes with the jaw
            top, bottom = UPPER_SHARE * keep, (1 - UPPER_SHARE) * keep
            w_top = np.clip(top - b.t + 0.5, 0, 1)
            w_bot = np.clip(bottom - (b.gap - b.t) + 0.5, 0, 1) * (1 - w_top)
            inv = 1.0 / max(scale, 1e-6)
            p_top = su + (b.t * inv)[:, None] * ds
            p_bot = sl - ((b.gap - b.t) * inv)[:, None] * ds
            real_top = synth.bilinear(self.image, p_top[:, 0], p_top[:, 1])
            real_bot = synth.bilinear(self.image, p_bot[:, 0], p_bot[:, 1])
            fake = synth.mouth_interior(b, width, self.mouth_col, teeth=self.options.teeth, top=top, bottom=bottom)
            wt, wb = w_top[:, None], w_bot[:, None]
            col = real_top * wt + real_bot * wb + fake * (1 - wt - wb)
        a = b.alpha[:, None]
        out[b.ys, b.xs] = out[b.ys, b.xs] * (1 - a) + col * a
