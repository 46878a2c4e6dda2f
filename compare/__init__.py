"""compare: runs scratchnet and torchref side by side and writes the reports in reports/."""

from scratchnet.run.command import _command_module, require_torch

if not _command_module().startswith("compare.walkthroughs"):  # the walkthroughs also run without torch
    try:
        require_torch()
    except ModuleNotFoundError:
        pass  # imported from code: the report modules' own torch imports say it
