"""How many cores this process may use: its CPU affinity, capped by a container's cgroup CPU quota.

PyTorch and numba each size their thread pools from the cores the operating system shows. In a container with
a CPU quota (mybinder.org grants about one core of a many-core host) that is too many: their spinning threads
spend the quota early in every scheduling period and the process waits out the rest. :func:`available_cpus`
says how many cores the process may really use (:mod:`ftmamba_lite.ops.threads` applies a count to both
libraries; the kernels' cold start asks it whether a second compiling process would have a core of its own).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["available_cpus", "cgroup_cpu_quota"]


def cgroup_cpu_quota(
    root: Path | str = "/sys/fs/cgroup", membership: Path | str = "/proc/self/cgroup"
) -> float | None:
    """The CPUs a cgroup quota grants this process (e.g. 1.0 on mybinder.org), or None without a quota.

    Reads cgroup v2's ``cpu.max`` ("quota period", or "max period" for none), else cgroup v1's
    ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` (quota -1 for none) under ``root/cpu``: in the process's
    own cgroup (named in ``membership``) and, as containers mount it, at the root.
    """
    root = Path(root)
    own = {"v2": "", "v1": ""}  # the process's cgroup path per hierarchy, relative to its mount
    try:
        for line in Path(membership).read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "":
                own["v2"] = path.lstrip("/")
            elif "cpu" in controllers.split(","):
                own["v1"] = path.lstrip("/")
    except (OSError, ValueError):
        pass
    candidates = [
        (root / own["v2"] / "cpu.max", None),
        (root / "cpu.max", None),
        (root / "cpu" / own["v1"] / "cpu.cfs_quota_us", root / "cpu" / own["v1"] / "cpu.cfs_period_us"),
        (root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"),
    ]
    for quota_file, period_file in candidates:
        try:
            if period_file is None:
                quota, period = quota_file.read_text().split()[:2]
            else:
                quota, period = quota_file.read_text().strip(), period_file.read_text().strip()
        except (OSError, ValueError):
            continue
        if quota in ("max", "-1"):
            return None
        try:
            cpus = int(quota) / int(period)
        except (ValueError, ZeroDivisionError):
            return None
        return cpus if cpus > 0 else None
    return None


def available_cpus() -> int:
    """The cores this process can use: its CPU affinity, capped by a cgroup quota (:func:`cgroup_cpu_quota`,
    rounded down), at least 1.

    Containers such as Binder's show the host's cores (``os.cpu_count()``, and so PyTorch's and numba's
    default thread counts) but grant a fraction of one or two of them. One spinning thread per visible core
    then spends the quota in a few milliseconds and the process waits out the rest of every period.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no affinity call
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, math.floor(quota))
    return max(1, cpus)
