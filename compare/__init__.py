"""compare: runs scratchnet and torchref side by side and writes the reports in reports/."""
