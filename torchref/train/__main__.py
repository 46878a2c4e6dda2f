"""The command line of torchref's training recipes.

    python -m torchref.train --model seedcnn                          # Adam 1e-3, batch 60, 10 epochs
    python -m torchref.train --model examplesnet --device cuda --bf16 --channels-last
    python -m torchref.train --model resnet18 --protocol workshop --weights imagenet --image-size 64
    python -m torchref.train summary reports/mnist_cpu_torch           # rebuild the summary and figures

Flags mean what they mean for ``python -m scratchnet.train``. Each run writes ``<out>/<run>.json``,
``<out>/<run>.png`` and refreshes ``<out>/README.md``.
"""

from __future__ import annotations

import argparse
import sys

from scratchnet.run.args import HelpFormatter, add_checkpoint_arguments, check_resume
from scratchnet.run.command import run_command
from scratchnet.run.summary import print_summaries
from torchref.cli import INPUT_ERRORS, add_common_arguments, resolve_arguments, torch_run_options
from torchref.recipes import run


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["summary"]:
        return print_summaries(argv[1:] or ["runs/torchref"], torch_runs=True)
    p = argparse.ArgumentParser(prog="python -m torchref.train", description=__doc__, formatter_class=HelpFormatter)
    add_common_arguments(p, out="runs/torchref")
    add_checkpoint_arguments(p)
    p.add_argument("--save-model", help="write the final state_dict here, loadable with torch.load(weights_only=True) "
                   "(default: not saved)")
    args = p.parse_args(argv)
    check_resume(p, args)
    recipe = resolve_arguments(p, args)
    return run_command(lambda: run(recipe, **torch_run_options(args), save_model=args.save_model), INPUT_ERRORS)


if __name__ == "__main__":
    raise SystemExit(main())
