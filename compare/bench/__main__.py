"""``python -m compare.bench``: the command line of the benchmark (see ``compare.bench``'s docstring). A
``--child`` run does one measurement for the parent and imports nothing else first."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from scratchnet.run.args import HelpFormatter, positive_int, thread_count

from .workload import MODEL_NAMES

QUICK = dict(reps=3, warmup=1, steps={"ffn": 20, "seedcnn": 3, "examplesnet": 1, "resnet18": 1}, infer_reps=3, op_reps=5,
             gemm_reps=3, alone=False,
             scale_reps=3, scale_rep_s=0.02, scale_models=("ffn", "seedcnn"))
FULL = dict(reps=15, warmup=2, steps={"ffn": 50, "seedcnn": 10, "examplesnet": 3, "resnet18": 2}, infer_reps=15, op_reps=30,
            gemm_reps=10, alone=True,
            scale_reps=7, scale_rep_s=0.15, scale_models=MODEL_NAMES)


def _choices(allowed: tuple[str, ...], what: str):
    def parse(text: str) -> str:
        bad = [v for v in text.split(",") if v and v not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(bad)}; expected some of {', '.join(allowed)}")
        return text
    return parse


model_list = _choices(MODEL_NAMES, "model(s)")
section_list = _choices(("scale", "ops", "jit", "memory"), "section(s)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m compare.bench", formatter_class=HelpFormatter,
                                description="scratchnet vs torch on the CPU, side by side: train and inference "
                                            "throughput, per-op speed, JIT cost, memory.")
    p.add_argument("--quick", action="store_true", help="fewer repetitions and a data subset: a few minutes (--skip jit,memory for less)")
    p.add_argument("--threads", type=thread_count, default=None, help="threads for both (default: usable cores)")
    p.add_argument("--models", type=model_list, default=",".join(MODEL_NAMES),
                   help="comma-separated models to measure")
    p.add_argument("--out", default="runs/bench",
                   help="folder for benchmarks.{md,csv,png} (git-ignored; the committed one is reports/)")
    p.add_argument("--skip", type=section_list, default="", help="comma-separated sections to skip: scale,ops,jit,memory (scale: "
                                                         "throughput against batch size and threads; --quick "
                                                         "measures FFN and SeedCNN there)")
    p.add_argument("--memory-images", type=positive_int, default=None,
                   help="images in the memory epoch (default: all; quick: 3000)")
    p.add_argument("--baseline", default=None, help="CSV of an earlier run to show as 'before' columns")
    p.add_argument("--child", choices=["jit", "memory", "evalmem", "alone"], help=argparse.SUPPRESS)
    p.add_argument("--steps", type=positive_int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--reps", type=positive_int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=positive_int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--impl", help=argparse.SUPPRESS)
    p.add_argument("--images", type=int, default=0, help=argparse.SUPPRESS)
    return p


def run_sections(res, names: list[str], cfg: dict, skip: set[str], threads: int, jit_names: list[str],
                 mem_images: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Every section not skipped, under one progress bar; the CPU other processes used during each, and the
    host speed probe (``_machine.host_speed``) before and after each."""
    scale_names = [n for n in names if n in cfg["scale_models"]]
    from tqdm import tqdm

    from .children import bench_jit, bench_memory
    from .evalmem import EVAL_MODELS, MODES, bench_eval_memory
    from .ops import bench_ops, op_cases
    from .scale import bench_scale
    from .throughput import bench_sgemm, bench_throughput
    from .._machine import host_speed
    from .timing import OtherLoad

    eval_names = [n for n in names if n in EVAL_MODELS]

    def memory(bar) -> None:
        bench_memory(res, names, threads, mem_images, bar, cfg["quick"])
        bench_eval_memory(res, eval_names, threads, 2000 if cfg["quick"] else 0, bar)

    def per_op(bar) -> None:
        bench_sgemm(res, cfg)
        bench_ops(res, cfg, float(res.meta["peak_gflops"]), bar)

    sections = [  # (the --skip name, the label in the report, parts for the progress bar, the work)
        (None, "throughput", 2 * len(names), lambda bar: bench_throughput(res, names, cfg, threads, bar)),
        ("scale", "scale", len(scale_names), lambda bar: bench_scale(res, scale_names, cfg, threads, bar)),
        ("ops", "per-op", len(op_cases()), per_op),
        ("jit", "JIT", 2 * len(jit_names), lambda bar: bench_jit(res, jit_names, threads, bar)),
        ("memory", "memory", 2 * len(names) + len(MODES) * len(eval_names), memory),
    ]
    todo = [(label, parts, work) for key, label, parts, work in sections if key not in skip]
    others: dict[str, float] = {}
    probes: dict[str, list[float]] = {}
    before = round(host_speed(), 1)  # one probe between two sections: the first's "after" is the next's "before"
    with tqdm(total=sum(n for _, n, _ in todo), desc="benchmarks", unit="part") as bar:
        for label, _, work in todo:
            meter = OtherLoad()
            work(bar)
            others[label] = meter.cores()
            after = round(host_speed(), 1)
            probes[label], before = [before, after], after
    return others, probes


def bench(args, threads: int):
    """The whole benchmark: measure, print the summary, write the report; returns the Report written."""
    from ..report import Report
    from . import report
    from .timing import Results, set_threads
    from .workload import INFER_BATCH, sample_batches

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    cfg = dict(QUICK if args.quick else FULL, infer_batch=INFER_BATCH, quick=args.quick)
    mem_images = args.memory_images or (3000 if args.quick else 0)
    jit_names = (["ffn"] if "ffn" in names else names[:1]) if args.quick else names  # quick: fewest kernels
    set_threads(threads)
    rep = Report(args.out, threads=threads)
    info, keep = rep.info, ("python", "numpy", "numba", "torch", "platform", "date", "command")
    res = Results({**info["cpu"], **{k: info[k] for k in keep}, "commit": info["git_commit"],
                   "load_start": os.getloadavg()[0], "reps": cfg["reps"], "data": sample_batches(1)[2]})
    baseline = report.read_baseline(Path(args.baseline)) if args.baseline else None
    others, probes = run_sections(res, names, cfg, skip, threads, jit_names, mem_images)
    res.meta.update(load_end=os.getloadavg()[0], others=", ".join(f"{k} {v:.2f}" for k, v in others.items()),
                    host_probe=", ".join(f"{k} {a:.0f} / {b:.0f}" for k, (a, b) in probes.items()))
    return report.write(rep, res, names, baseline, args.quick)


def run_as_child(args, threads: int) -> int:
    """The ``--child`` side of the command line: one measurement, printed as one JSON line."""
    from .children import child_alone, child_jit, child_memory
    from .evalmem import child_eval_memory

    measure = {
        "jit": lambda: child_jit(args.model, threads),
        "memory": lambda: child_memory(args.model, args.impl, threads, args.images),
        "evalmem": lambda: child_eval_memory(args.model, args.impl, threads, args.images),
        "alone": lambda: child_alone(args.impl, args.model, threads, args.steps, args.reps, args.warmup),
    }
    print(json.dumps(measure[args.child]()))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from .._machine import usable_cores

    threads = args.threads or usable_cores()
    if args.child:
        return run_as_child(args, threads)
    from ..cli import run_report

    return run_report(lambda: bench(args, threads))


if __name__ == "__main__":
    raise SystemExit(main())
