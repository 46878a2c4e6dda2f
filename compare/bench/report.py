"""The benchmark's outputs, written through ``compare.report``: benchmarks.csv (one row per measurement, and
an earlier run's rows with ``--baseline``), benchmarks.png (throughput bars) and benchmarks.md; and the
summary printed to the console."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .. import _machine
from ..figures import pyplot
from ..report import Report, table, texts
from .evalmem import eval_memory_rows
from .scale import plot_scale, scale_section
from .timing import Results, fmt_row
from .workload import IMPLS, INFER_BATCH, model_label, optimiser_label

TEXT = texts("bench")
#: the targets of issues 19 and 14: scratchnet / torch throughput, (section, model) -> (goal, what to aim at);
#: train at the recipe batch, inference at INFER_BATCH; and warm start in seconds (issue 5)
TARGETS = {("train", "ffn"): (1.2, ""), ("train", "seedcnn"): (2.0, ""), ("train", "examplesnet"): (1.3, ""),
           ("train", "resnet18"): (0.5, " (aim 1.0x)"), ("infer", "ffn"): (1.0, "")}
WARM_START_S = 3.0


def csv_rows(res: Results, baseline: dict | None) -> tuple[list[dict], list[str]]:
    """One row per measurement (column ``run`` = 'this run'); with a baseline, that run's rows follow
    (``run`` = 'baseline'), so the report's 'before' columns can be traced to numbers in the file."""
    rows = [dict(run="this run", section="meta", item=k, impl=str(v)) for k, v in res.meta.items()]
    rows += [{"run": "this run", **r} for r in res.rows]
    if baseline:
        rows += [dict(run="baseline", section="meta", item=k, impl=v) for k, v in baseline["meta"].items()]
        rows += [{**r, "run": "baseline"} for r in baseline["rows"].values()]
    fields: list[str] = ["run", "section", "item", "impl"]
    for r in rows:
        fields += [k for k in r if k not in fields]
    return rows, fields


def read_baseline(path: Path) -> dict:
    """A previous run's CSV (e.g. of the code before a change): its meta and its rows by key (only the rows
    of that run itself, if the file holds a baseline of its own)."""
    meta, rows = {}, {}
    with path.open() as fh:
        for r in csv.DictReader(fh):
            if r.get("run", "this run") != "this run":
                continue
            r.pop("run", None)
            if r["section"] == "meta":
                meta[r["item"]] = r["impl"]
            else:
                rows[(r["section"], r["item"], r["impl"])] = r
    return {"meta": meta, "rows": rows, "path": str(path)}


def plot(res: Results, names: list[str]):
    """Train and inference throughput per model, both libraries, log scale, labelled with their ratio."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"scratchnet": "#1f77b4", "torch": "#ee7733"}
    xs = np.arange(len(names))
    for ax, section, title in zip(axes, ("train", "infer"), ("train step (recipe batch)", "inference (batch 1000)")):
        for k, impl in enumerate(IMPLS):
            rows = [res.get(section, n, impl) for n in names]
            med = np.array([r["median"] for r in rows])
            err = np.array([med - [r["min"] for r in rows], [r["max"] for r in rows] - med])
            ax.bar(xs + (k - 0.5) * 0.38, med, 0.38, yerr=err, capsize=3, label=impl, color=colours[impl])
        for i, n in enumerate(names):
            top = max(res.get(section, n, impl)["max"] for impl in IMPLS)
            ax.text(i, top * 1.15, f"{res.ratio(section, n):.2f}x", ha="center", fontsize=9)
        ax.set_yscale("log")
        ax.set_xticks(xs, [model_label(n) for n in names])
        ax.set(ylabel="images / s (log scale)", title=title)
        ax.set_ylim(top=ax.get_ylim()[1] * 2.5)
        ax.legend(loc="upper right")  # over the short bars, not across them
    fig.suptitle(f"scratchnet vs torch, CPU, {res.meta['threads']} threads (median, min-max; label = scratchnet/torch)",
                 fontsize=10)
    return fig


def _before_cells(baseline: dict, section: str, item: str) -> list[str]:
    """The 'before' columns of a row: scratchnet's median and its ratio to torch in the baseline run."""
    old, oldt = baseline["rows"].get((section, item, "scratchnet")), baseline["rows"].get((section, item, "torch"))
    if not (old and oldt):
        return ["-", "-"]
    return [f"{float(old['median']):,.0f}", f"{float(old['median']) / float(oldt['median']):.2f}x"]


def _own_ratio(res: Results, name: str, section: str = "train") -> float | None:
    sa, ta = res.get(section, name, "scratchnet alone"), res.get(section, name, "torch alone")
    return sa["median"] / ta["median"] if sa and ta else None


def train_section(res: Results, names: list[str], baseline: dict | None) -> list[str]:
    head = ["model", "batch", "optimiser", "scratchnet img/s", "torch img/s", "ratio (same process)",
            "scratchnet alone img/s", "torch alone img/s", "ratio (own processes)"]
    rows = []
    for n in names:
        own = _own_ratio(res, n)
        row = [model_label(n), res.get("train", n, "scratchnet")["batch"], optimiser_label(n),
               fmt_row(res.get("train", n, "scratchnet")), fmt_row(res.get("train", n, "torch")),
               f"**{res.ratio('train', n):.2f}x**", fmt_row(res.get("train", n, "scratchnet alone")),
               fmt_row(res.get("train", n, "torch alone")), "-" if own is None else f"**{own:.2f}x**"]
        if baseline:
            old = baseline["rows"].get(("train", n, "torch alone"))
            row += [*_before_cells(baseline, "train", n), f"{float(old['median']):,.0f}" if old else "-"]
        rows.append(row)
    if baseline:
        head += ["before: scratchnet img/s", "before: ratio", "before: torch alone img/s"]
    return ["## Train-step throughput", "", TEXT["train"].format(reps=res.meta["reps"]), "", *table(head, rows),
            *(["", TEXT["old_blas"]] if baseline else []), "", TEXT["two_ratios"]]


def targets_section(res: Results, names: list[str]) -> list[str]:
    """The targets, each judged on the same-process ratio and on the own-process ratio."""
    rows = []
    for (section, n), (goal, aim) in TARGETS.items():
        if n not in names:
            continue
        same, own = res.ratio(section, n), _own_ratio(res, n, section)
        ok = same >= goal and (own is None or own >= goal)
        verdict = "yes" if ok else ("no" if own is None or (same < goal and own < goal) else
                                    "only in one of the two measurements")
        what = "training" if section == "train" else "inference"
        rows.append([f"{model_label(n)} {what} >= {goal:.1f}x torch{aim}", f"{same:.2f}x",
                     "-" if own is None else f"{own:.2f}x", verdict])
    warm = [r for r in res.section("jit") if r["impl"] == "warm cache"]
    if warm:
        worst = max(warm, key=lambda r: r["to_first_step_s"])
        rows.append([f"warm start (cached JIT) to first training step < {WARM_START_S:.0f} s",
                     f"{worst['to_first_step_s']:.2f} s (slowest model: {model_label(worst['item'])})", "-",
                     "yes" if worst["to_first_step_s"] < WARM_START_S else "no"])
    return ["", "### Targets", "", *table(["target", "same process", "own processes", "met"], rows)]


def infer_section(res: Results, names: list[str], baseline: dict | None) -> list[str]:
    head = ["model", "scratchnet img/s", "torch img/s", "ratio"] + (["before: scratchnet img/s", "before: ratio"]
                                                                    if baseline else [])
    rows = [[model_label(n), fmt_row(res.get("infer", n, "scratchnet")), fmt_row(res.get("infer", n, "torch")),
             f"**{res.ratio('infer', n):.2f}x**", *(_before_cells(baseline, "infer", n) if baseline else [])]
            for n in names]
    lines = ["", "## Inference throughput", "",
             f"Evaluation mode, one forward pass of a batch of {INFER_BATCH} (torch under `inference_mode`).", "",
             *table(head, rows), "", "![throughput](benchmarks.png)", ""]
    if baseline:
        bm = baseline["meta"]
        lines += [TEXT["baseline"].format(commit=bm.get("commit", "?"), date=bm.get("date", "?"),
                                            command=bm.get("command", "?"), others=bm.get("others", "?")), ""]
    return lines


def ops_section(res: Results) -> list[str]:
    gemm = res.section("sgemm")
    measured = ("Measured fp32 GEMM rate (2048^3, best implementation's median): "
                + ", ".join(f"{r['impl']} {r['median']:.0f} GFLOP/s" for r in gemm) + ". ") if gemm else ""
    rows = []
    for item in dict.fromkeys(r["item"] for r in res.section("op")):
        a, b = res.get("op", item, "scratchnet"), res.get("op", item, "torch")
        gf = [f"{r['gflops']:.1f} ({100 * r['peak_frac']:.0f}%)" if "gflops" in r else "-" for r in (a, b)]
        rows.append([*item.split(" | "), fmt_row(a, 3), fmt_row(b, 3), f"{b['median'] / a['median']:.2f}x", *gf])
    return ["## Per-op timings", "",
            f"Estimated machine peak: {_machine.peak_formula(res.meta)}. " + measured + TEXT["ops"], "",
            *table(["op", "pass", "scratchnet ms", "torch ms", "speed-up", "scratchnet GFLOP/s (% peak)",
                    "torch GFLOP/s (% peak)"], rows)]


def _memory_images(res: Results, quick: bool) -> str:
    text = "a subset, --quick" if quick else "all of it"
    resnet = [r for r in res.section("memory") if r["item"] == "resnet18"]
    if resnet:  # capped: see children.RESNET_MEMORY_IMAGES
        text += f"; ResNet18 only its first {int(resnet[0]['images']):,}: its peak comes in the first steps"
    return text


def jit_and_memory_sections(res: Results, quick: bool) -> list[str]:
    jit = [[model_label(r["item"]), r["impl"], f"{r['median']:.2f}", f"{r['first_step_s']:.2f}",
            f"{r['second_step_s']:.3f}", f"**{r['to_first_step_s']:.2f}**", f"{r['process_wall_s']:.2f}"]
           for r in res.section("jit")]
    memory = [[model_label(r["item"]), r["impl"], r["images"], f"{r['rss_import_mb']:.0f}", f"{r['rss_data_mb']:.0f}",
               f"{r['peak_epoch_mb']:.0f}", f"{r['peak_epoch_mb'] - r['rss_data_mb']:.0f}", f"{r['median']:.0f}",
               f"{r['epoch_s']:.1f}"] for r in res.section("memory")]
    return ["", "## JIT cost (fresh processes)", "", TEXT["jit"], "",
            *table(["model", "cache", "import s", "first step s", "second step s", "to first step done s",
                    "process wall s"], jit),
            "", "## Peak memory of one training epoch (fresh processes)", "",
            TEXT["memory"].format(images=_memory_images(res, quick)), "",
            *table(["model", "impl", "images", "after import MiB", "resident with data MiB", "epoch peak MiB",
                    "training added MiB", "peak (getrusage) MiB", "epoch s"], memory), *eval_memory_section(res)]


def eval_memory_section(res: Results) -> list[str]:
    rows = eval_memory_rows(res, model_label)
    if not rows:
        return []
    return ["", "## Peak memory of evaluating the test set, with and without `scratchnet.no_grad()` (fresh processes)",
            "", TEXT["eval_memory"], "",
            *table(["model", "mode", "images", "batch", "resident with data MiB", "evaluation peak MiB",
                    "evaluation added MiB", "seconds"], rows)]


def markdown(rep: Report, res: Results, names: list[str], baseline: dict | None, quick: bool) -> list[str]:
    m = res.meta
    return [*rep.header("Benchmarks: scratchnet vs torch on the CPU"),
            f"- load average at start / end: {m['load_start']:.2f} / {m['load_end']:.2f}",
            f"- CPU used by other processes, in cores, per section: {m['others']} (0 = the machine was ours)",
            f"- host speed probe, GFLOP/s before / after each section: {m.get('host_probe', 'not measured')} "
            f"({_machine.PROBE_WHAT})",
            f"- mode: {'--quick' if quick else 'full'}; {m['data']} images for the throughput runs", "",
            *train_section(res, names, baseline), *targets_section(res, names), *infer_section(res, names, baseline),
            *scale_section(res, names), *ops_section(res), *jit_and_memory_sections(res, quick), "", TEXT["scratchnet_side"], ""]


def write(rep: Report, res: Results, names: list[str], baseline: dict | None, quick: bool) -> Report:
    """benchmarks.csv, .png and .md, after printing the report's tables."""
    md = markdown(rep, res, names, baseline, quick)
    print("\n".join(summary(res, md)))
    rows, fields = csv_rows(res, baseline)
    rep.csv("benchmarks.csv", rows, fields, float_format=".6g")
    rep.figure("benchmarks.png", plot(res, names), dpi=120)
    if res.section("scale-train"):
        rep.figure("benchmarks_scale.png", plot_scale(res, names), dpi=110)
    rep.markdown("benchmarks.md", md)
    return rep


def summary(res: Results, md: list[str]) -> list[str]:
    """What the report says, for the console: the machine line, then the report's tables."""
    m = res.meta
    return [f"\n{m['cpu']}, {m['threads']} threads; commit {m['commit']}; other processes used (cores): {m['others']}; "
            f"host speed probe (GFLOP/s before / after): {m.get('host_probe', 'not measured')}",
            *(line for line in md if line.startswith("|"))]
