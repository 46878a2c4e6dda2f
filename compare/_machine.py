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
from pathlib import Path

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
