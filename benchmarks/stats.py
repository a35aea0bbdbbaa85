"""Small measurement helpers: percentiles in milliseconds, peak and current memory of this process."""

from __future__ import annotations

import resource

import numpy as np


def percentile_ms(seconds, q: float) -> float:
    """The q-th percentile of durations given in seconds, in milliseconds (3 decimals)."""
    return round(float(np.percentile(np.asarray(seconds, dtype=np.float64), q)) * 1000, 3)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, from /proc/self/status VmHWM.

    Not getrusage's ru_maxrss: Linux carries that across fork and exec, so a worker started by a
    parent holding the encoder would report the parent's size. The kernel updates VmHWM lazily,
    so it can trail an RSS read earlier by a few pages: the largest RSS ever read counts too.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return max(round(int(line.split()[1]) / 1024, 1), rss_mb(), _largest_seen)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


_largest_seen = 0.0


def rss_mb() -> float:
    """Current resident memory of this process."""
    global _largest_seen
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    now = round(pages * resource.getpagesize() / 2**20, 1)
    _largest_seen = max(_largest_seen, now)
    return now
