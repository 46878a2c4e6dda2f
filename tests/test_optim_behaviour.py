"""scratchnet.optim on its own (no torch): zero_grad, skipped parameters, in-place updates, state dicts
that hold only plain types, their flat {str: ndarray} form through np.savez, resuming bit for bit,
and the errors for bad arguments.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import scratchnet.optim as optim
from scratchnet.nn.module import Parameter
from scratchnet.optim import SGD, Adadelta, Adam, ExponentialLR, MultiStepLR, StepLR, flatten_state, unflatten_state
from scratchnet.optim.optimizer import STRUCTURE_KEY
from tests.parity_utils import assert_parity, rel_error

OPTIMIZERS = [
    ("SGD-momentum", SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-3)),
    ("SGD-nesterov", SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam-amsgrad", Adam, dict(lr=1e-2, amsgrad=True, maximize=True)),
    ("Adam", Adam, dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1)),
    ("Adadelta", Adadelta, dict(rho=0.95, weight_decay=1e-2)),
]
OPT_IDS = [o[0] for o in OPTIMIZERS]
SHAPES = [(5,), (3, 4), (2, 3, 2)]


def make_params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(s).astype(dtype)) for s in SHAPES]


def make_grads(n_steps, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(n_steps)]


def train(opt, params, grads, sched=None, steps_per_epoch=4):
    for k, gs in enumerate(grads):
        opt.zero_grad()
        for p, g in zip(params, gs):
            p.accumulate_grad(g)
        opt.step()
        if sched is not None and (k + 1) % steps_per_epoch == 0:
            sched.step()


# -- zero_grad, skipping, in place -------------------------------------------------------------------
def test_zero_grad_sets_grads_to_none_by_default():
    params = make_params()
    for p in params:
        p.grad = np.ones_like(p.data)
    SGD(params, lr=0.1).zero_grad()
    assert all(p.grad is None for p in params)


def test_zero_grad_without_set_to_none_fills_the_same_arrays_with_zeros():
    params = make_params()
    grads = [np.ones_like(p.data) for p in params]
    for p, g in zip(params, grads):
        p.grad = g
    params[0].grad = None
    Adam(params).zero_grad(set_to_none=False)
    assert params[0].grad is None  # a missing gradient stays missing, as in torch
    for p, g in zip(params[1:], grads[1:]):
        assert p.grad is g and not p.grad.any()


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=OPT_IDS)
def test_parameter_with_grad_none_is_left_untouched_and_gets_no_state(name, cls, kwargs):
    params = make_params()
    before = params[1].data.copy()
    opt = cls(params, **kwargs)
    for gs in make_grads(5):
        for p, g in zip(params, gs):
            p.grad = g
        params[1].grad = None
        opt.step()
    np.testing.assert_array_equal(params[1].data, before)
    assert params[1] not in opt.state


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=OPT_IDS)
def test_parameter_with_requires_grad_false_is_skipped_even_with_a_grad(name, cls, kwargs):
    params = make_params()
    params[0].requires_grad = False
    params[0].grad = np.ones_like(params[0].data)
    before = params[0].data.copy()
    opt = cls(params, **kwargs)
    for p in params[1:]:
        p.grad = np.ones_like(p.data)
    opt.step()
    np.testing.assert_array_equal(params[0].data, before)
    assert not np.array_equal(params[1].data, make_params()[1].data)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=OPT_IDS)
def test_step_updates_in_place_keeps_dtype_and_never_writes_into_grad(name, cls, kwargs, dtype):
    params = make_params(dtype)
    views = [p.data.reshape(-1) for p in params]  # references held elsewhere, e.g. by a model
    opt = cls(params, **kwargs)
    grads = make_grads(3, dtype)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = g
        opt.step()
    for p, v, g in zip(params, views, grads[-1]):
        assert p.data.dtype == dtype and p.data.flags.c_contiguous
        assert np.shares_memory(p.data, v)
        assert p.grad is g
    np.testing.assert_array_equal(grads[-1][0], make_grads(3, dtype)[-1][0])
    for s in opt.state.values():
        for value in s.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == dtype


def test_step_returns_the_closures_result():
    params = make_params()
    opt = SGD(params, lr=0.1)
    assert opt.step(lambda: 1.5) == 1.5
    assert opt.step() is None


def test_param_groups_inherit_defaults_and_keep_their_overrides():
    a, b = make_params()[:2]
    opt = Adam([{"params": [a]}, {"params": [b], "lr": 0.5, "betas": (0.5, 0.6), "name": "head"}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["betas"] == (0.9, 0.999)
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["betas"] == (0.5, 0.6)
    assert opt.param_groups[1]["name"] == "head"  # extra keys are kept, as in torch
    c = make_params()[2]
    opt.add_param_group({"params": c, "eps": 1e-3})
    assert opt.param_groups[2]["params"] == [c] and opt.param_groups[2]["eps"] == 1e-3


def test_named_parameters_are_accepted_and_their_names_saved():
    params = make_params()
    opt = SGD([(f"layer{i}.weight", p) for i, p in enumerate(params)], lr=0.1)
    assert opt.param_groups[0]["params"] == params
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["layer0.weight", "layer1.weight", "layer2.weight"]


def test_repr_lists_each_group_hyperparameters():
    text = repr(Adam(make_params(), lr=0.01))
    assert text.startswith("Adam (") and "Parameter Group 0" in text and "lr: 0.01" in text


# -- state dicts -------------------------------------------------------------------------------------
def _assert_plain(obj, path="state_dict"):
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, (str, int)) and not isinstance(k, bool), f"{path}: key {k!r}"
            _assert_plain(v, f"{path}[{k!r}]")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _assert_plain(v, f"{path}[{i}]")
    else:
        assert isinstance(obj, (np.ndarray, bool, int, float, str)), f"{path} is a {type(obj).__name__}"
        if isinstance(obj, np.ndarray):
            assert not obj.dtype.hasobject


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=OPT_IDS)
def test_state_dict_holds_only_arrays_numbers_strings_lists_and_dicts(name, cls, kwargs):
    params = make_params()
    opt = cls(params, **kwargs)
    sched = StepLR(opt, 2, 0.5)
    train(opt, params, make_grads(6), sched)
    sd = opt.state_dict()
    _assert_plain(sd)
    _assert_plain(sched.state_dict(), "scheduler")
    assert sorted(sd) == ["param_groups", "state"]
    assert sorted(sd["state"]) == [0, 1, 2]
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    assert sd["param_groups"][0]["initial_lr"] == kwargs.get("lr", 1.0)


def test_state_dict_is_a_snapshot():
    params = make_params()
    opt = Adam(params)
    train(opt, params, make_grads(2))
    saved = opt.state_dict()
    exp_avg = saved["state"][0]["exp_avg"].copy()
    train(opt, params, make_grads(2, seed=5))
    np.testing.assert_array_equal(saved["state"][0]["exp_avg"], exp_avg)
    assert saved["state"][0]["step"] == 2


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=OPT_IDS)
def test_flat_state_dict_round_trips_through_npz_without_pickle(name, cls, kwargs, tmp_path):
    params = make_params()
    opt = cls(params, **kwargs)
    train(opt, params, make_grads(3))
    flat = opt.flat_state_dict()
    assert all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in flat.items())
    np.savez(tmp_path / "opt.npz", **flat)
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        loaded = {k: f[k] for k in f.files}
    back = unflatten_state(loaded)
    original = opt.state_dict()
    assert back["param_groups"] == original["param_groups"]
    assert sorted(back["state"]) == sorted(original["state"])
    for i, s in original["state"].items():
        assert sorted(back["state"][i]) == sorted(s)
        for key, value in s.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(back["state"][i][key], value)
                assert back["state"][i][key].dtype == value.dtype
            else:
                assert back["state"][i][key] == value and type(back["state"][i][key]) is type(value)


def test_flatten_state_keeps_types_and_exact_floats():
    state = {
        "a": [1, 2.5, True, "x", None, (0.1, 1e-300)],
        "b": {0: np.arange(3), 7: {"c": np.float32(0.1)}},
        "__odd": float("inf"),
        "empty": {},
    }
    back = unflatten_state(flatten_state(state))
    assert back["a"] == [1, 2.5, True, "x", None, (0.1, 1e-300)]
    assert type(back["a"][0]) is int and type(back["a"][2]) is bool and type(back["a"][5]) is tuple
    np.testing.assert_array_equal(back["b"][0], np.arange(3))
    assert back["b"][7]["c"] == float(np.float32(0.1)) and back["__odd"] == float("inf") and back["empty"] == {}


def test_flatten_state_names_what_it_cannot_store():
    with pytest.raises(TypeError, match=r"'state/0/fn' is a function"):
        flatten_state({"state": {0: {"fn": lambda: 0}}})
    with pytest.raises(TypeError, match="dtype object"):
        flatten_state({"x": np.array([1, "a"], dtype=object)})
    with pytest.raises(KeyError, match="__structure__"):
        unflatten_state({"x": np.zeros(2)})
    flat = flatten_state({"x": np.zeros(2)})
    del flat["x"]
    with pytest.raises(KeyError, match="array 'x', which is missing"):
        unflatten_state(flat)
    assert STRUCTURE_KEY == "__structure__"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=OPT_IDS)
def test_training_resumed_from_a_saved_flat_state_equals_uninterrupted_training(name, cls, kwargs, dtype, tmp_path):
    grads = make_grads(40, dtype)
    # uninterrupted
    ref = make_params(dtype)
    ref_opt = cls(ref, **kwargs)
    ref_sched = StepLR(ref_opt, step_size=2, gamma=0.7)
    train(ref_opt, ref, grads, ref_sched)
    # interrupted after 20 steps (5 epochs), saved to .npz, reloaded into fresh objects
    first = make_params(dtype)
    opt = cls(first, **kwargs)
    sched = StepLR(opt, step_size=2, gamma=0.7)
    train(opt, first, grads[:20], sched)
    np.savez(tmp_path / "ckpt.npz", **{f"optimizer/{k}": v for k, v in opt.flat_state_dict().items()},
             **{f"scheduler/{k}": v for k, v in sched.flat_state_dict().items()},
             **{f"param{i}": p.data for i, p in enumerate(first)})
    with np.load(tmp_path / "ckpt.npz", allow_pickle=False) as f:
        saved = {k: f[k] for k in f.files}
    resumed = [Parameter(saved[f"param{i}"].copy()) for i in range(len(SHAPES))]
    opt2 = cls(resumed, lr=123.0)  # hyper-parameters come from the state dict
    opt2.load_flat_state_dict({k[len("optimizer/"):]: v for k, v in saved.items() if k.startswith("optimizer/")})
    sched2 = StepLR(opt2, step_size=2, gamma=0.7)
    sched2.load_flat_state_dict({k[len("scheduler/"):]: v for k, v in saved.items() if k.startswith("scheduler/")})
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    train(opt2, resumed, grads[20:], sched2)
    for i, (p, q) in enumerate(zip(resumed, ref)):
        np.testing.assert_array_equal(p.data, q.data, err_msg=f"param {i}: resumed vs uninterrupted")
    assert sched2.get_last_lr() == ref_sched.get_last_lr()
    assert sched2.last_epoch == ref_sched.last_epoch == 10


def test_load_state_dict_casts_buffers_to_the_parameter_dtype():
    p64 = make_params(np.float64)
    opt = Adam(p64)
    train(opt, p64, make_grads(2))
    p32 = make_params(np.float32)
    opt32 = Adam(p32)
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[p32[0]]["exp_avg"].dtype == np.float32
    assert opt32.state[p32[0]]["step"] == 2


def test_load_state_dict_rejects_a_different_layout():
    params = make_params()
    opt = SGD(params, lr=0.1, momentum=0.9)
    train(opt, params, make_grads(1))
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="has 1 parameter groups, expected 2"):
        SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"param_groups\[0\] has 3 parameters, expected 2"):
        SGD(params[:2], lr=0.1).load_state_dict(sd)
    other = [Parameter(np.zeros((5, 5))), params[1], params[2]]
    with pytest.raises(ValueError, match=r"state\[0\]\['momentum_buffer'\] has shape \(5,\), expected the parameter's shape \(5, 5\)"):
        SGD(other, lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'"):
        SGD(params, lr=0.1).load_state_dict({"state": {}})


# -- errors ----------------------------------------------------------------------------------------
def test_constructor_errors_name_the_argument_and_the_expectation():
    params = make_params()
    with pytest.raises(TypeError, match="got a single Parameter; wrap it in a list"):
        SGD(params[0])
    with pytest.raises(TypeError, match="got a set"):
        SGD(set(params))
    with pytest.raises(TypeError, match=r"param_groups\[0\]: optimizer can only optimize Parameters, but params\[1\] is a ndarray"):
        SGD([params[0], np.zeros(3)])
    with pytest.raises(TypeError, match=r"params\[0\] has dtype int64 \(expected float32 or float64\)"):
        SGD([Parameter(np.zeros(3, dtype=np.int64))])
    with pytest.raises(ValueError, match="must have a 'params' entry"):
        SGD([{"lr": 0.1}])
    with pytest.raises(ValueError, match="appears more than once in the group"):
        SGD([params[0], params[0]])
    with pytest.raises(ValueError, match=r"Adam param_groups\[1\]: invalid learning rate: -1 \(expected lr >= 0\)"):
        Adam([{"params": params[:1]}, {"params": params[1:], "lr": -1}])
    with pytest.raises(TypeError, match=r"SGD: lr should be a real number, but got '0.1' \(str\)"):
        SGD(params, lr="0.1")
    with pytest.raises(TypeError, match=r"betas should be a pair"):
        Adam(params, betas=(0.9,))
    with pytest.raises(TypeError, match=r"nesterov should be a bool"):
        SGD(params, momentum=0.9, nesterov="yes")
    with pytest.raises(ValueError, match="empty parameter list"):
        Adadelta(iter([]))
    with pytest.raises(ValueError, match=r"param_groups\[0\]: the group's 'params' is empty"):
        Adadelta([{"params": []}])


def test_step_rejects_a_gradient_of_the_wrong_shape_or_dtype():
    params = make_params()
    opt = SGD(params, lr=0.1)
    params[1].grad = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"\['params'\]\[1\] has grad of shape \(4, 3\), expected the parameter's shape \(3, 4\)"):
        opt.step()
    params[1].grad = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(TypeError, match="has grad of dtype float32, expected the parameter's dtype float64"):
        opt.step()


def test_scheduler_errors_name_the_argument():
    opt = SGD(make_params(), lr=0.1)
    with pytest.raises(TypeError, match="StepLR: optimizer should be a scratchnet Optimizer, but got list"):
        StepLR([], 1)
    with pytest.raises(ValueError, match=r"StepLR: invalid step_size: 0 \(expected an int >= 1\)"):
        StepLR(opt, 0)
    with pytest.raises(TypeError, match="MultiStepLR: milestones should be ints"):
        MultiStepLR(opt, [1.5])
    with pytest.raises(TypeError, match="ExponentialLR: gamma should be a real number"):
        ExponentialLR(opt, "0.9")
    with pytest.raises(KeyError, match=r"param_groups\[0\] has no 'initial_lr' although last_epoch=3"):
        StepLR(opt, 1, last_epoch=3)
    sched = StepLR(opt, 1)
    with pytest.raises(KeyError, match="unexpected keys"):
        sched.load_state_dict({"bogus": 1})


def test_scheduler_records_initial_lr_and_returns_copies():
    opt = SGD([{"params": make_params()[:1], "lr": 0.2}, {"params": make_params()[1:2]}], lr=0.1)
    sched = ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.2, 0.1] == sched.base_lrs
    last = sched.get_last_lr()
    last[0] = 99.0
    assert sched.get_last_lr() == [0.2, 0.1]
    sched.step()
    assert sched.get_last_lr() == [0.1, 0.05] and sched.last_epoch == 1


def test_public_names_and_no_torch_import():
    assert optim.StepLR is optim.lr_scheduler.StepLR and optim.LRScheduler is optim.lr_scheduler.LRScheduler
    assert issubclass(optim.MultiStepLR, optim.LRScheduler) and issubclass(optim.Adadelta, optim.Optimizer)
    code = "import sys, scratchnet.optim; assert 'torch' not in sys.modules, 'scratchnet.optim imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the parity helper itself ------------------------------------------------------------------------
def test_assert_parity_reports_the_worst_element_its_index_and_both_values():
    theirs = np.array([[1.0, 2.0], [3.0, -4.0]])
    ours = theirs.copy()
    ours[1, 0] += 1e-3
    assert_parity("ok", ours, theirs, rtol=1e-3)  # 1e-3 <= 1e-3 * 4
    with pytest.raises(AssertionError) as info:
        assert_parity("x", ours, theirs, rtol=1e-5)
    msg = str(info.value)
    assert "x: scratchnet vs torch" in msg and "index (1, 0)" in msg and "scratchnet=3.001" in msg and "torch=3.0" in msg
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_parity("s", ours, theirs.T.reshape(4), rtol=1)
    with pytest.raises(AssertionError, match="NaN at different places"):
        assert_parity("n", np.array([np.nan, 1.0]), np.array([0.0, 1.0]), rtol=1)
    assert_parity("nan-inf", np.array([np.nan, np.inf, 1.0]), np.array([np.nan, np.inf, 1.0]), rtol=0)
    assert_parity("scale", np.array([1e-3]), np.array([2e-3]), rtol=1e-2, scale=1.0)
    assert rel_error(np.array([1.0]), np.array([1.0 + 2e-8])) == pytest.approx(1e-8, rel=1e-6)
