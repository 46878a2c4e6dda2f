"""compare.parity --quick runs end to end into a temporary directory; its files exist and parse."""

import csv
import json

import matplotlib

from compare import parity


def test_parity_quick_writes_report_csv_json_and_figures(tmp_path):
    assert parity.main(["--quick", "--out", str(tmp_path), "--no-progress", "--batch-size", "8"]) == 0
    assert matplotlib.get_backend().lower() == "agg"
    rows = list(csv.DictReader((tmp_path / "parity.csv").open()))
    assert {r["model"] for r in rows} == {"ffn", "seedcnn"} and {r["dtype"] for r in rows} == {"float32", "float64"}
    params = [r for r in rows if r["kind"] == "parameter gradient" and r["dtype"] == "float64"]
    assert params and max(float(r["max_rel"]) for r in params) < 1e-10
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert curves["provenance"]["git_commit"] and len(curves["curves"]) == 4
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# Parity") and "- git commit:" in report and "![training curves](training.png)" in report
    for png in ("layers.png", "training.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _pool_case(ours_input, theirs_input):
    """ReLU -> MaxPool(2) in torch on ``theirs_input``, and the same two layers' outputs on our side given
    as ``ours_input`` (already non-negative): torch's graph, both sides' values, and the tie masks."""
    import numpy as np
    import torch

    layers = [torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
    t_in = torch.tensor(theirs_input, requires_grad=True)
    t0 = layers[0](t_in)
    t0.retain_grad()
    t1 = layers[1](t0)
    t1.retain_grad()
    ours = [np.asarray(ours_input), None]
    masks, count = parity.tie_masks(ours, [t0, t1], layers)
    t1.sum().backward()
    return t0.grad.numpy(), masks, count


def test_a_near_tie_is_counted_and_set_apart_but_a_real_mismatch_still_shows():
    import numpy as np

    one_up = np.nextafter(1.0, 2.0)
    # window 0: tied within one ulp, the larger entry on different sides in the two implementations;
    # window 1: an exact tie identical in both (broken the same way: not set apart); window 2: clear maximum
    theirs = np.array([[[[1.0, one_up, 2.0, 2.0, 0.1, 0.9], [0.0, 0.0, 0.0, 0.0, 0.2, 0.3]]]])
    ours = theirs.copy()
    ours[0, 0, 0, :2] = [one_up, 1.0]
    windows = parity.near_tied_windows(ours, theirs, 2, 2)
    assert windows.tolist() == [[[[True, False, False]]]]
    grad_theirs, masks, count = _pool_case(ours, theirs)
    assert count == 1 and masks[0].sum() == 4 and masks[0][0, 0, :, :2].all()
    grad_ours = grad_theirs.copy()
    grad_ours[0, 0, 0, :2] = grad_theirs[0, 0, 0, 1::-1]      # our max-pool picked the other entry of the tie
    row = parity._row("m", "float64", "relu", "gradient at output", grad_ours, grad_theirs, masks[0])
    assert row["max_rel"] == 1.0 and row["max_rel_untied"] == 0.0 and row["elements_tied"] == 4
    grad_ours[0, 0, 0, 5] += 0.5                              # a real mismatch outside the tied window
    row = parity._row("m", "float64", "relu", "gradient at output", grad_ours, grad_theirs, masks[0])
    assert row["max_rel"] == 1.0 and row["max_rel_untied"] == 0.5


def test_windows_apart_by_more_than_a_few_ulps_are_not_ties():
    import numpy as np

    a = np.array([[[[1.0, 1.0 + 1e-12], [0.0, 0.0]]]])
    b = np.array([[[[1.0 + 1e-12, 1.0], [0.0, 0.0]]]])
    assert not parity.near_tied_windows(a, b, 2, 2).any()
    f = np.array([[[[1.0, np.nextafter(np.float32(1.0), np.float32(2))], [0, 0]]]], dtype=np.float32)
    assert parity.near_tied_windows(f, f[..., ::-1].copy(), 2, 2).all()
