"""DataLoader: every sample once per epoch, drop_last, reproducible shuffles, resuming at epoch k."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.data import DataLoader, epoch_order


def make_data(n: int = 23):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return x, np.arange(n, dtype=np.int64)  # y[i] == i names the sample


def seen(loader, epoch=None):
    batches = list(loader) if epoch is None else list(loader.iter_epoch(epoch))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # x and y stay paired
    return batches, np.concatenate([yb for _, yb in batches]) if batches else np.array([], dtype=np.int64)


@pytest.mark.parametrize("shuffle", [False, True])
def test_every_sample_is_seen_exactly_once_per_epoch(shuffle):
    loader = DataLoader(*make_data(23), batch_size=5, shuffle=shuffle, seed=3)
    for _ in range(3):
        batches, order = seen(loader)
        assert len(batches) == len(loader) == 5
        assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
        assert sorted(order.tolist()) == list(range(23))
    assert loader.epoch == 3


def test_without_shuffle_the_order_is_the_index_order():
    _, order = seen(DataLoader(*make_data(7), batch_size=3))
    assert order.tolist() == list(range(7))


@pytest.mark.parametrize("n, batch_size, batches", [(23, 5, 4), (20, 5, 4), (4, 5, 0)])
def test_drop_last_leaves_out_only_the_incomplete_batch(n, batch_size, batches):
    loader = DataLoader(*make_data(n), batch_size=batch_size, shuffle=True, drop_last=True)
    got, order = seen(loader)
    assert len(got) == len(loader) == batches
    assert all(len(yb) == batch_size for _, yb in got)
    assert len(set(order.tolist())) == len(order) == loader.num_samples == batches * batch_size


def test_same_seed_gives_the_same_order_and_other_seeds_do_not():
    a = DataLoader(*make_data(), batch_size=4, shuffle=True, seed=11)
    b = DataLoader(*make_data(), batch_size=4, shuffle=True, seed=11)
    c = DataLoader(*make_data(), batch_size=4, shuffle=True, seed=12)
    for _ in range(3):
        order_a, order_b, order_c = seen(a)[1], seen(b)[1], seen(c)[1]
        np.testing.assert_array_equal(order_a, order_b)
        assert not np.array_equal(order_a, order_c)


def test_each_epoch_has_a_new_order():
    loader = DataLoader(*make_data(50), batch_size=8, shuffle=True, seed=0)
    orders = [tuple(seen(loader)[1]) for _ in range(5)]
    assert len(set(orders)) == 5


def test_resuming_at_epoch_k_reproduces_that_epoch_without_replaying():
    replayed = DataLoader(*make_data(), batch_size=4, shuffle=True, seed=5)
    for _ in range(3):
        list(replayed)
    expected = seen(replayed)[1]  # epoch 3
    resumed = DataLoader(*make_data(), batch_size=4, shuffle=True, seed=5, epoch=3)
    np.testing.assert_array_equal(seen(resumed)[1], expected)
    other = DataLoader(*make_data(), batch_size=4, shuffle=True, seed=5)
    other.set_epoch(3)
    np.testing.assert_array_equal(seen(other)[1], expected)
    assert other.epoch == 4


def test_epoch_indices_give_the_exact_batches_for_another_framework():
    loader = DataLoader(*make_data(), batch_size=4, shuffle=True, seed=9, drop_last=True)
    indices = loader.epoch_indices(2)
    batches = loader.batch_indices(2)
    np.testing.assert_array_equal(indices, epoch_order(23, 2, seed=9)[:20])
    np.testing.assert_array_equal(np.concatenate(batches), indices)
    got, order = seen(loader, epoch=2)
    for (_, yb), idx in zip(got, batches):
        np.testing.assert_array_equal(yb, idx)
    assert loader.epoch == 0, "looking at an epoch must not advance the loader"
    np.testing.assert_array_equal(
        epoch_order(23, 2, seed=9), np.random.default_rng([9, 2]).permutation(23)
    )


def test_starting_a_loop_advances_the_epoch_even_if_broken_off():
    loader = DataLoader(*make_data(), batch_size=4, shuffle=True)
    next(iter(loader))
    assert loader.epoch == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"batch_size": 2.5}, "batch_size must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"epoch": -2}, "epoch must be an integer >= 0, got -2"),
    ],
)
def test_bad_arguments_are_rejected_with_their_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(*make_data(), **kwargs)


def test_x_and_y_must_have_the_same_length():
    x, y = make_data(5)
    with pytest.raises(ValueError, match="x has 5 samples but y has 4"):
        DataLoader(x, y[:4])
