"""The shared figure helpers: grids that keep panels readable, honest epoch axes, confidences with digits."""

import numpy as np
import pytest

from compare.figures import confidence, confusion_grid, epoch_axis, grid_shape, pyplot, save


@pytest.mark.parametrize("n, shape", [(1, (1, 1)), (2, (1, 2)), (4, (2, 2)), (5, (2, 3)), (7, (3, 3)), (9, (3, 3))])
def test_grid_shape_is_never_a_strip_and_grows_with_the_panels(n, shape):
    assert grid_shape(n) == shape
    rows, columns = grid_shape(n)
    assert rows * columns >= n and columns <= 3


def test_grid_shape_names_a_bad_count():
    with pytest.raises(ValueError, match="n must be"):
        grid_shape(0)


def test_confusion_grid_panels_keep_their_size_and_counts_are_legible(tmp_path):
    cm = np.diag([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]) + 1
    fig = confusion_grid([(cm, f"run {i}") for i in range(7)], highlight=5, caption="what the colours mean")
    width, height = fig.get_size_inches()
    assert width / 3 >= 5 and height / 3 >= 5          # 3 x 3 grid of panels of about 5 inches
    texts = [t for ax in fig.axes for t in ax.texts]
    assert len(texts) == 7 * 100 and min(t.get_fontsize() for t in texts) >= 8
    assert sum(ax.axison for ax in fig.axes) == 7       # the two unused cells are blank
    save(fig, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0


def test_one_epoch_gets_one_tick_and_sensible_limits():
    fig, ax = pyplot().subplots()
    ax.plot([1], [0.5], "o")
    epoch_axis(ax, 1)
    assert list(ax.get_xticks()) == [1] and ax.get_xlim() == (0.5, 1.5)
    pyplot().close(fig)


@pytest.mark.parametrize("p, text", [(0.5, "0.500"), (0.9991, "0.999"), (0.99997, "1 - 3e-05"),
                                     (1 - 2e-9, "1 - <1e-07"), (1.0, "1 - <1e-07")])
def test_confidence_keeps_the_digits_that_differ(p, text):
    assert confidence(p) == text


def test_confidence_of_float32_probabilities():
    p = np.float32(1) - np.float32(2.0 ** -20)
    assert confidence(p, np.finfo(np.float32).eps) == "1 - 1e-06"
