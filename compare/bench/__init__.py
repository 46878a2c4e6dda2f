"""scratchnet vs torch on the CPU, side by side: train and inference throughput (FFN, SeedCNN, ExamplesNet and
ResNet18), its scale with batch size and threads, per-op speed, JIT cost, memory.

    python -m compare.bench            # the full run (~10-15 minutes), writes reports/benchmarks.{md,csv,png}
    python -m compare.bench --quick    # everything shrunk: a smoke test in a few minutes

Both implementations run in the same process with the same thread count (``numba.set_num_threads`` =
``torch.set_num_threads`` = the usable cores, or ``--threads``), start from the same weights
(``compare.models.build_pair``) and see the same batches. Repetitions are interleaved (scratchnet, torch,
torch, scratchnet, ...) after a warm-up, so background load hits both alike; we report the median and
the min-max of the repetitions and the ratio of the medians. JIT cost and peak memory are measured in
fresh subprocesses (``resource.getrusage``), the empty-cache JIT point with ``NUMBA_CACHE_DIR`` at a new
temporary directory.

Modules: ``timing`` (Stat, Results, interleaved repetitions, other load), ``workload`` (batches and train
steps), ``throughput``, ``scale`` (batch sizes and thread counts), ``ops`` (per-op timings), ``children`` (alone / JIT / memory subprocesses), ``report``
(CSV, figure and markdown through ``compare.report``), ``__main__`` (the command line). Nothing here imports
scratchnet or torch at import time: the JIT child times those imports itself.
"""
