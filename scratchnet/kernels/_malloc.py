"""Keep freed memory for reuse: tune glibc's malloc so that a training step does not page-fault.

A training step allocates and frees the same few arrays of 0.2-10 MB again and again (layer outputs,
gradients, kernel scratch, optimiser temporaries). With glibc's default settings many of them are
handed back to the operating system when freed (``munmap``, or trimming the top of the heap) and
fetched again at the next step, and every 4 KiB page of a fetched block costs a page fault when it is
first written: on the 2-core benchmark machine that was about 40% of a SeedCNN step and 35% of an
ExamplesNet step. Raising the mmap threshold to its maximum (32 MiB) and the trim threshold to
``TRIM_BYTES`` lets freed blocks stay in the heap, where the next step finds them already mapped.

This changes the whole process's allocator (arrays that have nothing to do with scratchnet too); it
only ever keeps memory that was already in use, up to ``TRIM_BYTES`` of free heap. It is applied once,
on import of ``scratchnet.kernels``, on Linux with glibc, unless ``SCRATCHNET_MALLOC=default`` is set
or the allocator was already configured through ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``
or ``GLIBC_TUNABLES``.
"""

from __future__ import annotations

import ctypes
import os
import platform

#: glibc's mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Blocks below this are served from the heap instead of their own mmap (glibc's maximum on 64-bit).
MMAP_BYTES = 32 * 1024 * 1024
#: Free memory at the top of the heap is returned to the system only beyond this.
TRIM_BYTES = 256 * 1024 * 1024

_ENV_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")

#: What happened: "tuned", or why not.
status = "not applied"


def tune_malloc() -> str:
    """Apply the settings (idempotent); returns and records a one-line status."""
    global status
    if status == "tuned":
        return status
    if os.environ.get("SCRATCHNET_MALLOC", "").lower() == "default":
        status = "left at glibc defaults (SCRATCHNET_MALLOC=default)"
    elif any(k in os.environ for k in _ENV_SETTINGS):
        status = "left as configured by the environment"
    elif platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        status = "not glibc: left alone"
    else:
        try:
            libc = ctypes.CDLL(None)
            ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES) == 1
        except (OSError, AttributeError):
            ok = False
        status = "tuned" if ok else "mallopt failed: left alone"
    return status
