"""``python -m compare.robustness``: bad input and faults tried against the library and its commands, by area,
with what each got — a clear error, the same result as torch, or a run resumed to the same weights.

    python -m compare.robustness                          # -> runs/robustness/ (git-ignored)
    python -m compare.robustness --out reports            # the committed reports/robustness.md

Areas: command-line values (every training and report command, in process: exit 2 with one ``error:``
line), output locations (a file, a README the user owns, a folder another run holds, a checkpoint that is
a folder), layer backward with wrong upstream gradients (every layer, in a child process so that a crash
is counted, not suffered), mutated checkpoints (random byte flips, truncations and field edits: a
CheckpointError and the model untouched), fuzzed IDX files (an IDXError naming the file), and training runs
killed with SIGKILL at random moments then resumed (the same final weights as an uninterrupted run).
Anything else is counted as *unexpected* and listed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from scratchnet.run.args import HelpFormatter, positive_int, seed_int

from ..cli import run_report
from ..report import Report, table, texts

TEXT = texts("robustness")
CLEAR = "clear error"
RESUMED = "resumed bit-identical"

#: command -> its main(argv) and the arguments it needs besides the bad value
COMMANDS = {
    "scratchnet.train": ("scratchnet.train.__main__", ["--model", "ffn"]),
    "torchref.train": ("torchref.train.__main__", ["--model", "ffn"]),
    "torchref.kfold": ("torchref.kfold.__main__", ["--model", "ffn"]),
    "compare.ffn_vs_cnn": ("compare.ffn_vs_cnn", []),
    "compare.parity": ("compare.parity", []),
    "compare.seeds": ("compare.seeds", ["--model", "ffn"]),
    "compare.speedrun": ("compare.speedrun", []),
    "compare.bench": ("compare.bench.__main__", []),
}
BAD_VALUES = {
    "--epochs": ["0", "-1", "two"], "--batch-size": ["0", "-5"], "--lr": ["-1", "0", "nan", "inf"],
    "--seed": ["-1", str(2**70), "x"], "--threads": ["-3", "0", "10000"], "--subset": ["0", "-5"],
    "--seeds": ["0"], "--steps": ["0"], "--models": ["bogus"], "--k": ["1", "0"],
}


class Tally:
    """Outcomes per area, and the cases that were not what they should be."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter] = {}
        self.unexpected: list[str] = []

    def add(self, area: str, outcome: str, case: str = "") -> None:
        self.counts.setdefault(area, Counter())[outcome] += 1
        if outcome.startswith("unexpected"):
            self.unexpected.append(f"{area}: {case}: {outcome}")


def _exit_code(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return code, err.getvalue()


def _one_error_line(code: int, err: str) -> bool:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return code == 2 and bool(lines) and "error" in lines[-1] and "Traceback" not in err


def command_values(tally: Tally, scratch: Path) -> None:
    import importlib

    for name, (module, base) in COMMANDS.items():
        main = importlib.import_module(module).main
        for flag, values in BAD_VALUES.items():
            for value in values:
                code, err = _exit_code(main, [*base, flag, value, "--out", str(scratch / "never")])
                if "unrecognized arguments" in err:
                    continue  # the command has no such option
                ok = _one_error_line(code, err) and not (scratch / "never").exists()
                tally.add("command-line values", CLEAR if ok else f"unexpected: exit {code}", f"{name} {flag} {value}")


def output_locations(tally: Tally, scratch: Path, data: Path) -> None:
    from compare.ffn_vs_cnn import main as ffn_vs_cnn_main
    from compare.replication import main as replication_main
    from scratchnet.run.outputs import RunLock
    from scratchnet.train.__main__ import main as scratch_main
    from torchref.train.__main__ import main as torch_main

    train = ["--model", "ffn", "--epochs", "1", "--data-dir", str(data), "--no-progress"]
    a_file = scratch / "a-file"
    a_file.write_text("mine")  # a case's input, in the scratch folder
    owned = scratch / "project"
    owned.mkdir()
    (owned / "README.md").write_text("# my project\n")  # a case's input
    held = scratch / "held"
    held.mkdir()
    lock = RunLock(held, "--out").acquire()
    try:
        cases = {"--out is a file": ["--out", str(a_file)], "--out holds the user's README": ["--out", str(owned)],
                 "--out is held by another run": ["--out", str(held)],
                 "--checkpoint is a folder": ["--out", str(scratch / "o"), "--checkpoint", str(scratch)]}
        for label, extra in cases.items():
            for name, main in (("scratchnet.train", scratch_main), ("torchref.train", torch_main)):
                code, err = _exit_code(main, [*train, *extra])
                ok = _one_error_line(code, err) and a_file.read_text() == "mine" \
                    and (owned / "README.md").read_text() == "# my project\n"
                tally.add("output locations", CLEAR if ok else f"unexpected: exit {code}", f"{name}: {label}")
        for name, main in (("compare.ffn_vs_cnn", ffn_vs_cnn_main), ("compare.replication", replication_main)):
            code, err = _exit_code(main, ["--quick", "--data-dir", str(data), "--out", str(a_file)])
            ok = _one_error_line(code, err) and a_file.read_text() == "mine"
            tally.add("output locations", CLEAR if ok else f"unexpected: exit {code}", f"{name}: --out is a file")
    finally:
        lock.release()


LAYER_CHILD = r"""
import json, sys
import numpy as np
from scratchnet import nn
SPECS = [("Linear", dict(in_features=5, out_features=3), (4, 5)), ("Conv2d", dict(in_channels=2, out_channels=3,
         kernel_size=3, padding=1), (2, 2, 6, 5)), ("Conv2d", dict(in_channels=2, out_channels=3, kernel_size=3,
         stride=2, bias=False), (2, 2, 7, 6)), ("MaxPool2d", dict(kernel_size=2), (2, 3, 6, 6)),
         ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1), (2, 3, 7, 7)), ("ReLU", {}, (3, 4)),
         ("Dropout", dict(p=0.5), (3, 4)), ("Flatten", {}, (2, 3, 4)), ("LogSoftmax", dict(dim=1), (3, 7)),
         ("BatchNorm1d", dict(num_features=3), (4, 3)), ("BatchNorm2d", dict(num_features=2), (2, 2, 3, 3)),
         ("AvgPool2d", dict(kernel_size=2), (2, 3, 6, 5)), ("AdaptiveAvgPool2d", dict(output_size=(2, 3)), (2, 3, 5, 7)),
         ("Sigmoid", {}, (3, 4)), ("Tanh", {}, (3, 4)), ("LeakyReLU", {}, (3, 4)), ("Softmax", dict(dim=1), (3, 4)),
         ("Identity", {}, (3, 4)), ("BasicBlock", dict(inplanes=3, planes=3), (2, 3, 5, 5))]
def wrong(out, kind, rng):
    g = rng.standard_normal(out.shape).astype(out.dtype)
    return {"bigger": np.ones((out.shape[0] + 3, *out.shape[1:]), out.dtype), "flat": g.reshape(-1),
            "extra_axis": g[None], "other_dtype": g.astype(np.float64 if out.dtype == np.float32 else np.float32),
            "int": g.astype(np.int64), "list": g.tolist(), "smaller": g[:1]}[kind]
rng = np.random.default_rng(int(sys.argv[1]))
for name, params, shape in SPECS:
    if name == "BasicBlock":
        from scratchnet.nn.residual import BasicBlock as cls
    else:
        cls = getattr(nn, name)
    for kind in ("bigger", "flat", "extra_axis", "other_dtype", "int", "list", "smaller"):
        layer = cls(**params)
        out = layer(rng.standard_normal(shape).astype(np.float32))
        try:
            layer.backward(wrong(out, kind, rng))
            result = "returned"
        except (ValueError, TypeError) as err:
            result = "named" if str(err).startswith(name) else "unnamed: " + str(err)[:80]
        except Exception as err:
            result = f"{type(err).__name__}: {str(err)[:80]}"
        print(json.dumps([name, kind, result]), flush=True)
"""


def layer_gradients(tally: Tally, seed: int) -> None:
    proc = subprocess.run([sys.executable, "-c", LAYER_CHILD, str(seed)], capture_output=True, text=True, timeout=900)
    seen = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("[")]
    for name, kind, result in seen:
        tally.add("layer backward, wrong upstream gradient", CLEAR if result == "named" else f"unexpected: {result}",
                  f"{name} {kind}")
    if proc.returncode != 0:
        tally.add("layer backward, wrong upstream gradient", f"unexpected: the child exited {proc.returncode}",
                  proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "")


def checkpoints(tally: Tally, scratch: Path, trials: int, rng: np.random.Generator) -> None:
    from scratchnet import models, optim
    from scratchnet.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    model = models.SeedCNN(rng=0)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    good = save_checkpoint(scratch / "good.npz", model, opt, epoch=2, step=3, meta={"history": {"epochs": []}}).read_bytes()
    for trial in range(trials):
        data = bytearray(good)
        how = ["flip", "truncate", "field"][trial % 3]
        if how == "flip":
            for _ in range(int(rng.integers(1, 8))):
                data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
        elif how == "truncate":
            data = data[: int(rng.integers(0, len(data)))]
        path = scratch / f"bad{trial}.npz"
        path.write_bytes(bytes(data))
        if how == "field":
            _edit_field(path, rng)
        target = models.SeedCNN(rng=1)
        before = target.state_dict()
        try:
            load_checkpoint(path, target, optim.Adam(target.parameters(), lr=1e-3))
            outcome = "loaded (the mutation left it valid)"
        except CheckpointError:
            untouched = all(np.array_equal(v, target.state_dict()[k]) for k, v in before.items())
            outcome = CLEAR if untouched else "unexpected: the model changed before the error"
        except Exception as err:  # noqa: BLE001 - counting what escapes is the point
            outcome = f"unexpected: {type(err).__name__}"
        tally.add("mutated checkpoints", outcome, f"{how} #{trial}")


def _edit_field(path: Path, rng: np.random.Generator) -> None:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    info = json.loads(str(arrays["meta"]))
    field = ["epoch", "step", "meta", "rng_states", "optimizer_class", "format"][int(rng.integers(0, 6))]
    info[field] = [1e6, -5, "3", [1], None, True, "Adadelta"][int(rng.integers(0, 7))]
    arrays["meta"] = np.array(json.dumps(info))
    np.savez(path, **arrays)


def idx_files(tally: Tally, scratch: Path, trials: int, rng: np.random.Generator) -> None:
    from scratchnet.data import IDXError, read_idx, write_idx

    clean = write_idx(scratch / "clean-idx", rng.integers(0, 255, (5, 4, 3)).astype(np.uint8)).read_bytes()
    for trial in range(trials):
        data = bytearray(clean)
        for _ in range(int(rng.integers(1, 4))):
            data[int(rng.integers(0, min(len(data), 24)))] = int(rng.integers(0, 256))  # mostly the header
        if trial % 4 == 0:
            data = data[: int(rng.integers(0, len(data)))]
        path = scratch / f"fuzz{trial}-idx"
        path.write_bytes(bytes(data))
        try:
            read_idx(path, max_bytes=1 << 20)
            outcome = "read (the mutation left it valid)"
        except IDXError as err:
            outcome = CLEAR if str(path) in str(err) else "unexpected: IDXError without the file's name"
        except Exception as err:  # noqa: BLE001
            outcome = f"unexpected: {type(err).__name__}"
        tally.add("fuzzed IDX files", outcome, f"#{trial}")


def killed_runs(tally: Tally, scratch: Path, data: Path, trials: int, rng: np.random.Generator) -> None:
    def command(out: Path, resume: bool) -> list[str]:
        return [sys.executable, "-m", "scratchnet.train", "--model", "seedcnn", "--epochs", "3", "--batch-size", "30",
                "--data-dir", str(data), "--out", str(out), "--checkpoint", str(out / "ck.npz"), "--no-progress",
                "--threads", "1", *(["--resume"] if resume else [])]

    def weights(path: Path) -> dict[str, np.ndarray]:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files if k.startswith("model/")}

    straight = scratch / "straight"
    subprocess.run(command(straight, False), check=True, capture_output=True, timeout=900)
    expected = weights(straight / "ck.npz")
    for trial in range(trials):
        out = scratch / f"killed{trial}"
        proc = subprocess.Popen(command(out, False), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(float(rng.uniform(2.0, 8.0)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        subprocess.run(command(out, True), check=True, capture_output=True, timeout=900)
        same = all(np.array_equal(weights(out / "ck.npz")[k], v) for k, v in expected.items())
        tally.add("training killed with SIGKILL, then --resume", RESUMED if same else "unexpected: other weights",
                  f"#{trial}")


def write(rep: Report, tally: Tally, args) -> Report:
    rows = [[area, sum(counts.values()), "; ".join(f"{n} {k}" for k, n in counts.most_common())]
            for area, counts in tally.counts.items()]
    total = sum(row[1] for row in rows)
    lines = [*rep.header("Robustness: bad input and faults, and what each gets"), "",
             TEXT["outcomes"].format(total=total, areas=len(tally.counts), seed=args.seed), "",
             *table(["area", "cases", "outcomes"], rows), "",
             "## Unexpected", "", *(f"- {u}" for u in tally.unexpected), *([] if tally.unexpected else ["None."]), "",
             TEXT["also"], ""]
    rep.json("robustness.json", {"provenance": rep.info, "counts": {a: dict(c) for a, c in tally.counts.items()},
                                 "unexpected": tally.unexpected})
    rep.markdown("robustness.md", lines)
    return rep


def _digits(root: Path, n_train: int = 600, n_test: int = 100) -> Path:
    """Small learnable MNIST-format data (class c: a bright bar at rows 2 + 2c), for the killed runs."""
    from scratchnet.data import write_idx

    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 2 + 2 * c : 4 + 2 * c, 4:24] = 250
        write_idx(root / f"{split}-images-idx3-ubyte", images)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels.astype(np.uint8))
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compare.robustness", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--out", default="runs/robustness",
                   help="folder for robustness.md and .json (git-ignored; the committed one is reports/)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the mutations and kill times")
    p.add_argument("--mutations", type=positive_int, default=600, help="mutated checkpoints and fuzzed IDX files, each")
    p.add_argument("--kills", type=positive_int, default=3, help="training runs killed with SIGKILL and resumed")
    args = p.parse_args(argv)

    def work() -> Report:
        rng, tally = np.random.default_rng(args.seed), Tally()
        rep = Report(args.out, seed=args.seed)
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp)
            data = _digits(scratch / "data")
            steps = [("command-line values", lambda: command_values(tally, scratch)),
                     ("output locations", lambda: output_locations(tally, scratch, data)),
                     ("layer backward", lambda: layer_gradients(tally, args.seed)),
                     ("checkpoints", lambda: checkpoints(tally, scratch, args.mutations, rng)),
                     ("IDX files", lambda: idx_files(tally, scratch, args.mutations, rng)),
                     ("killed runs", lambda: killed_runs(tally, scratch, data, args.kills, rng))]
            for label, step in steps:
                t0 = time.perf_counter()
                step()
                print(f"{label}: done in {time.perf_counter() - t0:.1f} s", flush=True)
        return write(rep, tally, args)

    return run_report(work)


if __name__ == "__main__":
    raise SystemExit(main())
