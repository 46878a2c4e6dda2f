"""The CPU a benchmark ran on: model, usable cores, SIMD width, clock, caches and the estimated fp32 peak.

Read from /proc/cpuinfo and ``lscpu`` where they exist; every field says "unknown" rather than guess.
The estimated peak is ``cores x GHz x FMA pipes x fp32 lanes x 2`` (an FMA is two flops), the lanes being
those of the FMA pipes' datapath: AMD's Zen 4 (family 25 with AVX-512) runs a 512-bit FMA as two halves on
256-bit pipes, so it counts 8 lanes there, not the instruction's 16. Reports get these facts through
``compare.provenance.collect(threads=...)``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

#: FMA pipes per core assumed for the peak estimate (2 on Zen 2-5 and on Intel cores since Haswell).
FMA_PIPES = 2
#: The host-speed probe's matrix size: float32 n x n times n x n, ~1 ms on two cores.
PROBE_SIZE = 384


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


def _llvm_cpu() -> str:
    try:
        import llvmlite.binding as ll

        return ll.get_host_cpu_name()
    except Exception:  # noqa: BLE001 - informative only
        return "unknown"


def describe(threads: int) -> dict[str, object]:
    """The CPU facts of a benchmark's header, and the estimated fp32 peak in GFLOP/s for ``threads`` cores."""
    cpu, ls = _cpuinfo(), _lscpu()
    flags = set(cpu.get("flags", ls.get("Flags", "")).split())
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    simd = ("AVX-512" if lanes == 16 else "AVX2" if lanes == 8 else "SSE") + ("+FMA" if "fma" in flags else "")
    if lanes == 16 and cpu.get("vendor_id") == "AuthenticAMD" and cpu.get("cpu family") == "25":
        lanes, simd = 8, simd + " on 256-bit datapaths (Zen 4)"  # two halves per 512-bit instruction
    try:
        ghz = float(ls.get("CPU max MHz") or cpu.get("cpu MHz") or "") / 1000.0
    except ValueError:
        ghz = float("nan")
    return {
        "cpu": cpu.get("model name", ls.get("Model name", platform.processor() or "unknown")),
        "cpu_family_model": f"family {cpu.get('cpu family', '?')} model {cpu.get('model', '?')} ({_llvm_cpu()} to LLVM)",
        "cores": usable_cores(),
        "threads": threads,
        "simd": simd,
        "fp32_lanes": lanes,
        "ghz": ghz,
        "ghz_source": "lscpu 'CPU max MHz'" if ls.get("CPU max MHz") else "/proc/cpuinfo 'cpu MHz' (nominal)",
        "peak_gflops": threads * ghz * lanes * (FMA_PIPES * 2 if "fma" in flags else 1),
        "l2": ls.get("L2 cache", "unknown"),
        "l3": ls.get("L3 cache", "unknown"),
    }


def peak_formula(m: dict[str, object]) -> str:
    """The peak estimate written out, e.g. '2 cores x 2.60 GHz x 2 FMA pipes x 16 lanes x 2 = 332.3 GFLOP/s'."""
    return (
        f"{m['threads']} cores x {m['ghz']:.2f} GHz ({m['ghz_source']}) x {FMA_PIPES} FMA pipes x "
        f"{m['fp32_lanes']} fp32 lanes ({m['simd']}) x 2 flops per FMA = {m['peak_gflops']:.1f} GFLOP/s"
    )


def host_speed(seconds: float = 0.3, n: int = PROBE_SIZE) -> float:
    """How fast this host computes right now, in GFLOP/s: the 90th percentile of the rates of NumPy float32
    ``n x n @ n x n`` products (NumPy's BLAS with its own threads) over ``seconds`` (a high percentile: a short
    burst of other work slows some products, a slower host all of them).

    Why: a virtual machine's cores may be shared with other machines, whose load its load average cannot see;
    the same code then runs up to twice as slow. Taken beside timed runs, this probe says how fast the host was
    while they ran, with the same fixed workload in every report, so that reports of different days compare.
    It means something only while nothing else runs inside this machine (the condition of every timed report):
    multi-threaded products, ours and the BLAS's alike, stall at their barriers when another process holds a
    core, and then read 10-100x slower.
    """
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # the BLAS threads start here, not in the first timed call
    rates: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(rates) < 5:
        t = time.perf_counter()
        a @ b
        rates.append(2 * n**3 / (time.perf_counter() - t) / 1e9)
    time.sleep(0.2)  # the BLAS threads spin a while after their last product: not into the next timed run
    return float(np.percentile(rates, 90))


def probe_text(gflops: list[float]) -> str:
    """The probe's readings for a report: '184 GFLOP/s' or 'from 95 to 190 GFLOP/s (median 184)'."""
    if len(gflops) == 1:
        return f"{gflops[0]:.0f} GFLOP/s"
    return f"from {min(gflops):.0f} to {max(gflops):.0f} GFLOP/s (median {float(np.median(gflops)):.0f})"


PROBE_WHAT = (f"NumPy float32 {PROBE_SIZE}x{PROBE_SIZE} matrix products, 90th percentile of their rates over 0.3 s; the same fixed "
              "workload in every report, run slower by a shared host when other machines load it")
