"""Measurements the tests make themselves, independent of the code under test.

Plain functions (not fixtures), imported as ``from helpers.measure import ...``: pytest puts tests/ on
sys.path because conftest.py sits there.
"""
from __future__ import annotations

import numpy as np


def lag_corr(a, b, max_lag: int = 4) -> dict:
    """Correlation of a[t] with b[t + lag] for every lag in [-max_lag, max_lag], as {lag: r}."""
    out = {}
    for lag in range(-max_lag, max_lag + 1):
        x = a[max(0, -lag): len(a) - max(0, lag)]
        y = b[max(0, lag): len(b) - max(0, -lag)]
        out[lag] = float(np.corrcoef(x, y)[0, 1])
    return out


def best_lag(corr: dict) -> int:
    """The lag of ``lag_corr``'s highest correlation."""
    return max(corr, key=corr.get)


def run_measured(cmd, *, env=None, cwd=None, timeout_s: float = 300.0, kill_above_mb: float = 0.0,
                 preexec_fn=None) -> dict:
    """Run ``cmd`` as a direct child; its own peak RSS comes from ``os.wait4`` (``ru_maxrss``).

    ``kill_above_mb`` > 0 watches the child's resident memory (``/proc/PID/status``, every 20 ms)
    and kills it once it passes that much, so a test of a memory bound cannot take a shared machine
    down with it.  Returns ``{"rc", "wall_s", "rss_mb", "killed_at_mb", "stdout", "stderr"}``."""
    import os
    import subprocess
    import threading
    import time
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=preexec_fn)
    killed = [0.0]
    done = threading.Event()

    def watch():
        status = f"/proc/{p.pid}/status"
        while not done.wait(0.02):
            if time.perf_counter() - t0 > timeout_s:
                p.kill()
                return
            if not kill_above_mb:
                continue
            try:
                with open(status) as f:
                    rss = next((int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")), 0) / 1024.0
            except (OSError, ValueError):
                continue
            if rss > kill_above_mb:
                killed[0] = rss
                p.kill()
                return

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    out, err = [], []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
               for s, b in ((p.stdout, out), (p.stderr, err))]
    for r in readers:
        r.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    for r in readers:
        r.join(10)
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"rc": p.returncode, "wall_s": wall, "rss_mb": ru.ru_maxrss / 1024.0, "killed_at_mb": killed[0],
            "stdout": b"".join(out).decode(errors="replace"), "stderr": b"".join(err).decode(errors="replace")}


def frame_rms(y, sr: float, n: int, fps: float) -> np.ndarray:
    """RMS of the mono signal ``y`` (sample rate ``sr``) over each frame's window [i/fps, (i+1)/fps),
    for ``n`` frames; 0 where a window holds no samples."""
    y = np.asarray(y, np.float64)
    out = np.zeros(n)
    for i in range(n):
        seg = y[int(round(i * sr / fps)): int(round((i + 1) * sr / fps))]
        out[i] = np.sqrt(np.mean(seg ** 2)) if len(seg) else 0.0
    return out


def inner_mouth_mask(landmarks, shape) -> np.ndarray:
    """Pixels inside the inner-lip contour of a landmark set (as re-detected on a frame)."""
    from skimage.draw import polygon
    from synchrorama_core.geometry import topology as T
    p = np.asarray(landmarks)[T.CONTOURS["lips_inner"], :2]
    m = np.zeros(shape[:2], bool)
    rr, cc = polygon(p[:, 1], p[:, 0], shape[:2])
    m[rr, cc] = True
    return m


def corner_height(landmarks) -> np.ndarray:
    """How high the mouth corners sit: minus their distance from the line of the outer eye corners,
    in inter-ocular distances (higher = corners nearer the eyes: a smile raises it, sadness lowers it)."""
    from synchrorama_core.geometry import topology as T
    lm = np.asarray(landmarks, np.float64)[..., :2]
    eyes = 0.5 * (lm[..., T.RIGHT_EYE_OUTER, :] + lm[..., T.LEFT_EYE_OUTER, :])
    corners = 0.5 * (lm[..., T.MOUTH_CORNER_RIGHT, :] + lm[..., T.MOUTH_CORNER_LEFT, :])
    return -np.linalg.norm(corners - eyes, axis=-1) / T.interocular(lm)


def _stack(landmarks) -> np.ndarray:
    """A landmark track (``None`` where no face was found) as ``[n, 478, 3]`` with NaN rows."""
    return np.stack([np.full((478, 3), np.nan) if lm is None else np.asarray(lm, np.float64)[:, :3]
                     for lm in landmarks])


def lip_gap_iod(landmarks) -> np.ndarray:
    """Per frame: the inner-lip gap (mean of the three vertical inner-lip distances) in inter-ocular
    distances; ~0.02 for closed lips re-detected on a frame, NaN where no face was found."""
    from synchrorama_core.geometry import topology as T
    lm = _stack(landmarks)
    gap = np.mean([np.linalg.norm(lm[:, u, :2] - lm[:, l, :2], axis=1) for u, l in T.INNER_LIP_PAIRS], axis=0)
    return gap / T.interocular(lm)


def mouth_width_iod(landmarks) -> np.ndarray:
    """Per frame: the distance between the outer mouth corners in inter-ocular distances."""
    from synchrorama_core.geometry import topology as T
    lm = _stack(landmarks)
    return T.mouth_width(lm) / T.interocular(lm)


def jitter(x, fps: float) -> dict:
    """Frame-to-frame jitter of a per-frame measure: ``flicker`` is the summed amplitude of zig-zags
    (three successive frame steps alternating up, down, up or the reverse: a wobble faster than any
    articulation) per second; ``d2`` the mean absolute second difference."""
    x = np.asarray(x, np.float64)
    d = np.diff(x)
    s = np.sign(d)
    zig = (s[:-2] != 0) & (s[:-2] == -s[1:-1]) & (s[:-2] == s[2:])
    amp = np.minimum(np.minimum(np.abs(d[:-2]), np.abs(d[1:-1])), np.abs(d[2:]))
    return {"flicker": float(amp[zig].sum() / (len(x) / fps)), "d2": float(np.mean(np.abs(np.diff(x, 2))))}
