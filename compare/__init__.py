"""compare: runs scratchnet and torchref side by side and writes the reports in reports/."""

from scratchnet.run.command import require_torch

try:  # without torch, `python -m compare.<report>` ends here with how to install it (the walkthroughs go on)
    require_torch()
except ModuleNotFoundError:
    pass  # imported from code, or the walkthroughs: the report modules' own torch imports say it
