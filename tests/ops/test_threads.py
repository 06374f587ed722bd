"""Thread counts: the cgroup CPU quota, the cores a process may use, and the notebooks' setup cell."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numba
import pytest
import torch

from ftmamba_lite import course
from ftmamba_lite.course import environment
from ftmamba_lite.learn import experiments
from ftmamba_lite.ops import cpus
from ftmamba_lite.ops.threads import available_cpus, cgroup_cpu_quota, set_num_threads


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "100000 100000\n"}, 1.0),  # mybinder.org's limit
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "50000 100000\n"}, 0.5),
        ({"cpu.max": "max 100000\n"}, None),  # v2, no quota
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, no quota
        ({}, None),  # no cgroup files (macOS, Windows)
        ({"cpu.max": "garbage\n"}, None),
    ],
)
def test_cgroup_cpu_quota_reads_v2_and_v1(
    tmp_path: Path, files: dict[str, str], expected: float | None
) -> None:
    root = _write(tmp_path / "cgroup", files)
    membership = _write(tmp_path, {"self": "1:cpu:/\n0::/\n"}) / "self"
    assert cgroup_cpu_quota(root, membership) == expected


@pytest.mark.parametrize(
    ("membership", "files", "expected"),
    [
        (
            "0::/user.slice/job\n",
            {"user.slice/job/cpu.max": "100000 100000\n", "cpu.max": "max 100000\n"},
            1.0,
        ),
        (
            "2:cpuacct:/\n1:cpu:/jobs/q1\n0::/\n",
            {"cpu/jobs/q1/cpu.cfs_quota_us": "50000\n", "cpu/jobs/q1/cpu.cfs_period_us": "100000\n"},
            0.5,
        ),
        (
            "1:cpu,cpuacct:/jobs/q2\n",
            {"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"},
            3.0,
        ),
    ],
)
def test_cgroup_cpu_quota_follows_the_process_cgroup(
    tmp_path: Path, membership: str, files: dict[str, str], expected: float
) -> None:
    """The quota of the process's own cgroup (no cgroup namespace), else the mount's root (a container)."""
    root = _write(tmp_path / "cgroup", files)
    assert cgroup_cpu_quota(root, _write(tmp_path, {"self": membership}) / "self") == expected


@pytest.mark.parametrize(("quota", "expected"), [(None, 2), (8.0, 2), (1.0, 1), (1.5, 1), (0.5, 1)])
def test_available_cpus_caps_the_affinity_at_the_quota(
    monkeypatch: pytest.MonkeyPatch, quota: float | None, expected: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(cpus, "cgroup_cpu_quota", lambda: quota)
    assert available_cpus() == expected
    assert experiments.default_jobs() == expected  # seeds run in as many processes


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = (torch.get_num_threads(), numba.get_num_threads())
    yield
    torch.set_num_threads(before[0])
    numba.set_num_threads(before[1])


@pytest.mark.usefixtures("restore_threads")
def test_setup_caps_torch_and_numba_threads_at_the_granted_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs a machine with two cores")
    set_num_threads(2)
    monkeypatch.setattr(environment, "available_cpus", lambda: 1)  # a Binder-like container: one core granted
    env = course.setup(seed=0)
    assert (torch.get_num_threads(), numba.get_num_threads(), env.threads) == (1, 1, 1)
    assert "(1 CPU thread)" in str(env)


@pytest.mark.usefixtures("restore_threads")
def test_setup_keeps_fewer_threads_than_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs a machine with two cores")
    torch.set_num_threads(1)  # as notebook 07 does before its setup cell
    numba.set_num_threads(2)
    monkeypatch.setattr(environment, "available_cpus", lambda: 2)
    course.setup(seed=0)
    assert (torch.get_num_threads(), numba.get_num_threads()) == (1, 1)


def test_set_num_threads_holds_for_torch_after_numba_starts_its_pool() -> None:
    """Starting numba's OpenMP pool resets the thread count PyTorch's operators read (once PyTorch has run) to
    the pool's size; in a fresh process (the pool not started) ``set_num_threads(1)`` must still leave both
    libraries at 1."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs a machine with two cores")
    code = (
        "import torch, numba\n"
        "torch.ones(10**6).sum()\n"  # PyTorch in use, as in any notebook by its setup cell
        "from ftmamba_lite.ops.threads import set_num_threads\n"
        "set_num_threads(1)\n"
        "print(torch.get_num_threads(), numba.get_num_threads())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "1"]
