"""What machine a benchmark ran on: CPU model, cores, SIMD width, clock, versions, commit and date.

Read from /proc/cpuinfo and ``lscpu`` where they exist; every field says "unknown" rather than guess.
The estimated peak is ``cores x GHz x FMA pipes x fp32 lanes x 2`` (an FMA is two flops).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: FMA pipes per core assumed for the peak estimate (2 on Zen 2-5 and on Intel cores since Haswell).
FMA_PIPES = 2


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    return info


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}


def usable_cores() -> int:
    """CPUs this process may run on (the affinity mask), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def git_commit() -> str:
    """HEAD's hash, "-dirty" when tracked code (reports/ aside) differs from it; see scratchnet.recipes.git_commit."""
    from scratchnet.run.provenance import git_commit as commit

    return commit()


def describe(threads: int) -> dict[str, object]:
    """Everything the report header needs, plus the estimated fp32 peak in GFLOP/s."""
    import numba
    import numpy

    cpu, ls = _cpuinfo(), _lscpu()
    flags = set(cpu.get("flags", ls.get("Flags", "")).split())
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    simd = "AVX-512" if lanes == 16 else "AVX2" if lanes == 8 else "SSE"
    if "fma" in flags:
        simd += "+FMA"
    mhz_text = ls.get("CPU max MHz") or cpu.get("cpu MHz") or ""
    try:
        ghz = float(mhz_text) / 1000.0
    except ValueError:
        ghz = float("nan")
    peak = threads * ghz * FMA_PIPES * lanes * 2 if "fma" in flags else threads * ghz * lanes
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    try:
        import llvmlite.binding as ll

        llvm_cpu = ll.get_host_cpu_name()
    except Exception:  # noqa: BLE001 - informative only
        llvm_cpu = "unknown"
    return {
        "cpu": cpu.get("model name", ls.get("Model name", platform.processor() or "unknown")),
        "cpu_family_model": f"family {cpu.get('cpu family', '?')} model {cpu.get('model', '?')} ({llvm_cpu} to LLVM)",
        "cores": usable_cores(),
        "threads": threads,
        "simd": simd,
        "fp32_lanes": lanes,
        "ghz": ghz,
        "ghz_source": "lscpu 'CPU max MHz'" if ls.get("CPU max MHz") else "/proc/cpuinfo 'cpu MHz' (nominal)",
        "peak_gflops": peak,
        "l2": ls.get("L2 cache", "unknown"),
        "l3": ls.get("L3 cache", "unknown"),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "torch": torch_version,
        "platform": platform.platform(),
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "command": "python -m compare.bench " + " ".join(sys.argv[1:]),
        "commit": git_commit(),
    }


def peak_formula(m: dict[str, object]) -> str:
    """The peak estimate written out, e.g. '2 cores x 2.60 GHz x 2 FMA pipes x 16 lanes x 2 = 332.3 GFLOP/s'."""
    return (
        f"{m['threads']} cores x {m['ghz']:.2f} GHz ({m['ghz_source']}) x {FMA_PIPES} FMA pipes x "
        f"{m['fp32_lanes']} fp32 lanes ({m['simd']}) x 2 flops per FMA = {m['peak_gflops']:.1f} GFLOP/s"
    )


class OtherLoad:
    """CPU time that other processes used while a block of the benchmark ran, in cores (0.5 = half a core
    on average): busy time of the whole machine (/proc/stat) minus this process's and its children's."""

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
            busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait
        except (OSError, ValueError, IndexError):
            busy = float("nan")
        t = os.times()
        import time

        return busy, t.user + t.system + t.children_user + t.children_system, time.perf_counter()

    def cores(self) -> float:
        busy1, own1, wall1 = self._sample()
        busy0, own0, wall0 = self.start
        return max(0.0, (busy1 - busy0) - (own1 - own0)) / max(wall1 - wall0, 1e-9)


def other_load() -> float:
    """The 1-minute load average (other work on the machine skews timings), or NaN."""
    try:
        return float(re.split(r"\s+", Path("/proc/loadavg").read_text())[0])
    except (OSError, ValueError, IndexError):
        return float("nan")
