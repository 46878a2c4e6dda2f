"""scratchnet.optim against torch.optim: 100 steps of every optimiser option, float64 and float32,
learning-rate schedules bit for bit, parameter groups, skipped parameters and argument errors.

Both sides get the same parameters and, at every step, the same random gradients (numpy Generator).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from scratchnet.nn.module import Parameter
from scratchnet.optim import SGD, Adadelta, Adam, ExponentialLR, MultiStepLR, StepLR
from tests.parity_utils import assert_parity

SHAPES = [(1,), (37,), (8, 13), (4, 3, 5, 5)]  # one element, and odd sizes (torch's vectorised loops and tails)
N_STEPS = 100
RTOL = {np.float64: 1e-12, np.float32: 1e-6}
DTYPES = [np.float64, np.float32]

TORCH_CLASS = {SGD: torch.optim.SGD, Adam: torch.optim.Adam, Adadelta: torch.optim.Adadelta}
STATE_KEYS = {
    SGD: ["momentum_buffer"],
    Adam: ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    Adadelta: ["step", "square_avg", "acc_delta"],
}

CASES = [
    # SGD
    (SGD, "plain", dict(lr=0.1)),
    (SGD, "defaults", dict()),
    (SGD, "momentum", dict(lr=0.05, momentum=0.9)),
    (SGD, "dampening", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    (SGD, "nesterov", dict(lr=0.05, momentum=0.9, nesterov=True)),
    (SGD, "weight_decay", dict(lr=0.1, weight_decay=0.05)),
    (SGD, "maximize", dict(lr=0.1, maximize=True)),
    (SGD, "all", dict(lr=0.03, momentum=0.8, weight_decay=0.01, nesterov=True, maximize=True)),
    # Adam
    (Adam, "defaults", dict()),
    (Adam, "betas_eps", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6)),
    (Adam, "small_betas", dict(lr=1e-2, betas=(0.3, 0.5))),  # lerp weight >= 0.5: torch's other branch
    (Adam, "weight_decay", dict(lr=1e-2, weight_decay=0.1)),
    (Adam, "amsgrad", dict(lr=1e-2, amsgrad=True)),
    (Adam, "maximize", dict(lr=1e-2, maximize=True)),
    (Adam, "all", dict(lr=5e-3, betas=(0.85, 0.95), eps=1e-7, weight_decay=0.05, amsgrad=True, maximize=True)),
    # Adadelta
    (Adadelta, "defaults", dict()),
    (Adadelta, "rho_eps", dict(rho=0.5, eps=1e-4)),
    (Adadelta, "weight_decay", dict(weight_decay=0.1)),
    (Adadelta, "lr", dict(lr=0.3)),
    (Adadelta, "maximize", dict(maximize=True)),
    (Adadelta, "all", dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.01, maximize=True)),
]


def make_problem(dtype, n_steps=N_STEPS, seed=0):
    """Initial values and, per step, one gradient per parameter (magnitudes vary over 3 decades)."""
    rng = np.random.default_rng(seed)
    inits = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in SHAPES]
    grads = []
    for _ in range(n_steps):
        scale = 10.0 ** rng.uniform(-2, 1)
        grads.append([np.asarray(scale * rng.standard_normal(s), dtype=dtype) for s in SHAPES])
    return inits, grads


def torch_params(arrays):
    return [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]


def set_grads(ours, theirs, grads):
    """Our parameters get the arrays themselves, torch's get copies (so a mutation would show)."""
    for p, tp, g in zip(ours, theirs, grads):
        p.grad = g
        tp.grad = None if g is None else torch.from_numpy(g.copy())


class ParamComparer:
    """Compares our parameters with torch's after each step, relative to each parameter's scale.

    A parameter's scale is the largest |value| torch's copy has had so far (from its initial value
    on): the one-element parameter may pass near zero, where its current value understates the size
    of the (ulp-level, accumulated) rounding differences.
    """

    def __init__(self, theirs, rtol):
        self.rtol = rtol
        self.scales = [float(np.abs(tp.detach().numpy()).max()) for tp in theirs]

    def __call__(self, label, ours, theirs):
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            t = tp.detach().numpy()
            self.scales[i] = max(self.scales[i], float(np.abs(t).max()))
            assert_parity(f"{label} param {i} {p.shape}", p.data, t, self.rtol, scale=self.scales[i])


STATE_RTOL_FACTOR = 4  # the buffers hold squares (v, E[g^2], E[delta^2]): twice the relative error, and more


def compare_state(label, opt, topt, ours, theirs, keys, rtol):
    """Compare the state buffers, each relative to that buffer's largest |value| over all parameters,
    with ``STATE_RTOL_FACTOR * rtol``: a running average of squares doubles the relative rounding
    differences, and Adadelta feeds its ``acc_delta`` back into every later step."""
    rtol = STATE_RTOL_FACTOR * rtol
    scale = {
        key: max((float(np.abs(topt.state[tp][key].numpy()).max()) for tp in theirs if key in topt.state.get(tp, {})), default=0.0)
        for key in keys
    }
    for i, (p, tp) in enumerate(zip(ours, theirs)):
        s, ts = opt.state.get(p, {}), topt.state.get(tp, {})
        for key in keys:
            assert (key in s) == (key in ts), f"{label} param {i}: state key {key!r}: scratchnet {sorted(s)}, torch {sorted(ts)}"
            if key == "step" and key in s:
                assert s[key] == int(ts[key].item()), f"{label} param {i}: step {s[key]} vs torch {ts[key]}"
            elif key in s:
                assert_parity(f"{label} param {i} state {key}", s[key], ts[key], rtol, scale=scale[key])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("cls,label,kwargs", CASES, ids=[f"{c.__name__}-{n}" for c, n, _ in CASES])
def test_optimizer_matches_torch_over_100_steps(cls, label, kwargs, dtype):
    inits, grads = make_problem(dtype)
    ours = [Parameter(a.copy()) for a in inits]
    theirs = torch_params(inits)
    opt = cls(ours, **kwargs)
    topt = TORCH_CLASS[cls](theirs, foreach=False, **kwargs)  # torch's single-tensor (for-loop) path
    rtol = RTOL[dtype]
    compare_params = ParamComparer(theirs, rtol)
    data_ids = [id(p.data) for p in ours]
    for step, gs in enumerate(grads):
        set_grads(ours, theirs, gs)
        opt.step()
        topt.step()
        name = f"{cls.__name__}({label}) {np.dtype(dtype).name} step {step + 1}"
        compare_params(name, ours, theirs)
        for p, tp in zip(ours, theirs):  # neither side may write into the gradient
            np.testing.assert_array_equal(p.grad, tp.grad.numpy(), err_msg=f"{name}: gradient was modified")
    assert [id(p.data) for p in ours] == data_ids, "parameters must be updated in place"
    assert all(p.data.dtype == dtype for p in ours)
    compare_state(f"{cls.__name__}({label}) final", opt, topt, ours, theirs, STATE_KEYS[cls], rtol)


# -- learning-rate schedulers ------------------------------------------------------------------------
def _lr_schedules(make_ours, make_theirs, lrs, epochs=30):
    ours = [Parameter(np.zeros(3)) for _ in lrs]
    theirs = torch_params([np.zeros(3) for _ in lrs])
    opt = SGD([{"params": [p], "lr": lr} for p, lr in zip(ours, lrs)])
    topt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(theirs, lrs)])
    sched, tsched = make_ours(opt), make_theirs(topt)
    assert sched.get_last_lr() == tsched.get_last_lr()
    assert [g["initial_lr"] for g in opt.param_groups] == [g["initial_lr"] for g in topt.param_groups]
    history = []
    for epoch in range(epochs):
        opt.step()
        topt.step()  # (no gradients: only so that torch sees optimizer.step() before scheduler.step())
        sched.step()
        tsched.step()
        ours_lr, torch_lr = sched.get_last_lr(), tsched.get_last_lr()
        assert ours_lr == torch_lr, f"epoch {epoch + 1}: scratchnet vs torch: lr {ours_lr} vs {torch_lr}"
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
        assert sched.last_epoch == tsched.last_epoch
        history.append(ours_lr)
    return history


SCHEDULES = [
    ("StepLR-1-0.7", lambda o: StepLR(o, step_size=1, gamma=0.7),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.7)),
    ("StepLR-3-0.5", lambda o: StepLR(o, 3, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
    ("StepLR-default-gamma", lambda o: StepLR(o, 7), lambda o: torch.optim.lr_scheduler.StepLR(o, 7)),
    ("ExponentialLR-0.9", lambda o: ExponentialLR(o, 0.9), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9)),
    ("MultiStepLR", lambda o: MultiStepLR(o, [12, 5, 20, 12], gamma=0.3),
     lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [12, 5, 20, 12], gamma=0.3)),
]


@pytest.mark.parametrize("lrs", [[1.0], [0.1, 0.013]], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("name,make_ours,make_theirs", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_scheduler_lrs_equal_torch_bit_for_bit_over_30_epochs(name, make_ours, make_theirs, lrs):
    history = _lr_schedules(make_ours, make_theirs, lrs)
    assert history[-1] != [lr for lr in lrs] or name.startswith("StepLR-default"), "the schedule never decayed"


def test_scheduler_resumed_from_state_dict_continues_like_torch():
    ours = [Parameter(np.zeros(2))]
    theirs = torch_params([np.zeros(2)])
    opt, topt = SGD(ours, lr=0.5), torch.optim.SGD(theirs, lr=0.5)
    sched = MultiStepLR(opt, [3, 7], gamma=0.2)
    tsched = torch.optim.lr_scheduler.MultiStepLR(topt, [3, 7], gamma=0.2)
    for _ in range(5):
        opt.step(), topt.step(), sched.step(), tsched.step()
    saved_opt, saved_sched = opt.flat_state_dict(), sched.flat_state_dict()
    opt2 = SGD([Parameter(np.zeros(2))], lr=123.0)
    opt2.load_flat_state_dict(saved_opt)
    sched2 = MultiStepLR(opt2, [1], gamma=0.9)
    sched2.load_flat_state_dict(saved_sched)
    for epoch in range(10):
        opt2.step(), topt.step(), sched2.step(), tsched.step()
        assert sched2.get_last_lr() == tsched.get_last_lr(), f"epoch {epoch + 6}: scratchnet vs torch"
        assert opt2.param_groups[0]["lr"] == topt.param_groups[0]["lr"]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_mnist_example_adadelta_with_steplr_matches_torch(dtype):
    """The official PyTorch MNIST example: Adadelta(lr=1.0) and StepLR(step_size=1, gamma=0.7) per epoch."""
    epochs, steps_per_epoch = 30, 3
    inits, grads = make_problem(dtype, n_steps=epochs * steps_per_epoch, seed=1)
    ours, theirs = [Parameter(a.copy()) for a in inits], torch_params(inits)
    opt, topt = Adadelta(ours, lr=1.0), torch.optim.Adadelta(theirs, lr=1.0, foreach=False)
    sched = StepLR(opt, step_size=1, gamma=0.7)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=1, gamma=0.7)
    compare_params = ParamComparer(theirs, RTOL[dtype])
    for epoch in range(epochs):
        for k in range(steps_per_epoch):
            set_grads(ours, theirs, grads[epoch * steps_per_epoch + k])
            opt.step()
            topt.step()
        sched.step()
        tsched.step()
        assert sched.get_last_lr() == tsched.get_last_lr(), f"epoch {epoch + 1}: scratchnet vs torch lr"
        compare_params(f"MNIST-example {np.dtype(dtype).name} epoch {epoch + 1}", ours, theirs)
    assert sched.get_last_lr()[0] == pytest.approx(0.7**30, rel=1e-12)


# -- parameter groups, skipped parameters --------------------------------------------------------------
GROUP_CASES = [
    (SGD, dict(lr=0.1, momentum=0.9), [dict(lr=0.01), dict(weight_decay=0.1, nesterov=True)]),
    (Adam, dict(lr=1e-2), [dict(lr=1e-3, betas=(0.5, 0.9)), dict(amsgrad=True, weight_decay=0.01)]),
    (Adadelta, dict(), [dict(lr=0.5, rho=0.8), dict(eps=1e-4, maximize=True)]),
]


@pytest.mark.parametrize("cls,defaults,overrides", GROUP_CASES, ids=[c[0].__name__ for c in GROUP_CASES])
def test_param_groups_with_their_own_hyperparameters_match_torch(cls, defaults, overrides):
    inits, grads = make_problem(np.float64, n_steps=40, seed=2)
    ours, theirs = [Parameter(a.copy()) for a in inits], torch_params(inits)
    # groups: params [0, 1] with overrides[0], [2] with overrides[1], [3] with the defaults
    split = [[0, 1], [2], [3]]
    opt = cls([{"params": [ours[i] for i in idx], **ov} for idx, ov in zip(split, overrides + [{}])], **defaults)
    topt = TORCH_CLASS[cls](
        [{"params": [theirs[i] for i in idx], **ov} for idx, ov in zip(split, overrides + [{}])], foreach=False, **defaults
    )
    assert len(opt.param_groups) == 3
    compare_params = ParamComparer(theirs, RTOL[np.float64])
    for g, tg in zip(opt.param_groups, topt.param_groups):
        for key in opt.defaults:
            assert g[key] == tg[key], f"group hyper-parameter {key}: scratchnet {g[key]} vs torch {tg[key]}"
    for step, gs in enumerate(grads):
        set_grads(ours, theirs, gs)
        opt.step()
        topt.step()
        compare_params(f"{cls.__name__} groups step {step + 1}", ours, theirs)


@pytest.mark.parametrize("cls,kwargs", [(SGD, dict(lr=0.1, momentum=0.9)), (Adam, dict(lr=1e-2)), (Adadelta, dict())],
                         ids=["SGD", "Adam", "Adadelta"])
def test_parameters_without_grad_are_skipped_like_torch(cls, kwargs):
    """Param 0 never has a gradient, param 1 only on even steps (its 'step' count lags, as in torch)."""
    inits, grads = make_problem(np.float64, n_steps=30, seed=3)
    ours, theirs = [Parameter(a.copy()) for a in inits], torch_params(inits)
    opt, topt = cls(ours, **kwargs), TORCH_CLASS[cls](theirs, foreach=False, **kwargs)
    compare_params = ParamComparer(theirs, RTOL[np.float64])
    for step, gs in enumerate(grads):
        gs = [None, gs[1] if step % 2 == 0 else None] + gs[2:]
        opt.zero_grad()
        topt.zero_grad()
        set_grads(ours, theirs, gs)
        opt.step()
        topt.step()
        compare_params(f"{cls.__name__} grad-None step {step + 1}", ours, theirs)
    np.testing.assert_array_equal(ours[0].data, inits[0])
    assert ours[0] not in opt.state or not opt.state[ours[0]]
    compare_state(f"{cls.__name__} grad-None", opt, topt, ours, theirs, STATE_KEYS[cls], RTOL[np.float64])


def test_loads_a_torch_state_dict_converted_to_numpy_and_continues_identically():
    """Same state names and layout as torch: torch's state dict (tensors -> ndarrays) loads into ours."""
    inits, grads = make_problem(np.float64, n_steps=40, seed=4)
    theirs = torch_params(inits)
    topt = torch.optim.Adam(theirs, lr=1e-2, amsgrad=True, foreach=False)
    for gs in grads[:20]:
        set_grads([Parameter(np.zeros(1)) for _ in gs], theirs, gs)
        topt.step()
    tsd = topt.state_dict()
    converted = {
        "state": {i: {k: v.numpy().copy() for k, v in s.items()} for i, s in tsd["state"].items()},
        "param_groups": [dict(g) for g in tsd["param_groups"]],
    }
    ours = [Parameter(tp.detach().numpy().copy()) for tp in theirs]
    opt = Adam(ours)
    opt.load_state_dict(converted)
    assert opt.param_groups[0]["lr"] == 1e-2 and opt.param_groups[0]["amsgrad"] is True
    assert opt.state[ours[0]]["step"] == 20
    compare_params = ParamComparer(theirs, RTOL[np.float64])
    for step, gs in enumerate(grads[20:]):
        set_grads(ours, theirs, gs)
        opt.step()
        topt.step()
        compare_params(f"Adam from torch state step {step + 21}", ours, theirs)


# -- argument errors: both raise, ours names the argument and the expectation ----------------------------
def _p():
    return [Parameter(np.zeros(3))]


def _tp():
    return [torch.nn.Parameter(torch.zeros(3))]


ERROR_CASES = [
    ("SGD-lr", SGD, dict(lr=-0.1), r"SGD: invalid learning rate: -0\.1 \(expected lr >= 0\)"),
    ("SGD-momentum", SGD, dict(momentum=-0.5), r"SGD: invalid momentum value: -0\.5 \(expected momentum >= 0\)"),
    ("SGD-weight_decay", SGD, dict(weight_decay=-1e-4), r"invalid weight_decay value: -0\.0001 \(expected weight_decay >= 0\)"),
    ("SGD-nesterov-no-momentum", SGD, dict(nesterov=True), r"Nesterov momentum requires a momentum and zero dampening"),
    ("SGD-nesterov-dampening", SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), r"expected momentum > 0 and dampening == 0"),
    ("Adam-beta0", Adam, dict(betas=(1.5, 0.999)), r"Adam: invalid beta parameter at index 0: 1\.5 \(expected 0 <= beta < 1\)"),
    ("Adam-beta1", Adam, dict(betas=(0.9, 1.0)), r"Adam: invalid beta parameter at index 1: 1\.0 \(expected 0 <= beta < 1\)"),
    ("Adam-negative-beta", Adam, dict(betas=(-0.1, 0.9)), r"index 0: -0\.1"),
    ("Adam-eps", Adam, dict(eps=-1e-8), r"Adam: invalid epsilon value: -1e-08 \(expected eps >= 0\)"),
    ("Adam-lr", Adam, dict(lr=-1.0), r"Adam: invalid learning rate: -1\.0 \(expected lr >= 0\)"),
    ("Adam-weight_decay", Adam, dict(weight_decay=-0.1), r"Adam: invalid weight_decay value"),
    ("Adadelta-rho-high", Adadelta, dict(rho=1.5), r"Adadelta: invalid rho value: 1\.5 \(expected 0 <= rho <= 1\)"),
    ("Adadelta-rho-low", Adadelta, dict(rho=-0.1), r"invalid rho value: -0\.1"),
    ("Adadelta-eps", Adadelta, dict(eps=-1.0), r"Adadelta: invalid epsilon value: -1\.0 \(expected eps >= 0\)"),
    ("Adadelta-lr", Adadelta, dict(lr=-1.0), r"Adadelta: invalid learning rate"),
    ("Adadelta-weight_decay", Adadelta, dict(weight_decay=-1.0), r"Adadelta: invalid weight_decay value"),
]


@pytest.mark.parametrize("name,cls,kwargs,pattern", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_bad_hyperparameters_raise_like_torch(name, cls, kwargs, pattern):
    with pytest.raises(ValueError):
        TORCH_CLASS[cls](_tp(), **kwargs)
    with pytest.raises(ValueError, match=pattern):
        cls(_p(), **kwargs)


@pytest.mark.parametrize("cls", [SGD, Adam, Adadelta], ids=lambda c: c.__name__)
def test_empty_parameter_list_raises_like_torch(cls):
    with pytest.raises(ValueError, match="empty parameter list"):
        TORCH_CLASS[cls]([])
    with pytest.raises(ValueError, match=re.escape(f"{cls.__name__}: optimizer got an empty parameter list")):
        cls([])


@pytest.mark.parametrize("cls", [SGD, Adam, Adadelta], ids=lambda c: c.__name__)
def test_parameter_in_two_groups_raises_like_torch(cls):
    tp = _tp() + _tp()
    with pytest.raises(ValueError, match="more than one parameter group"):
        TORCH_CLASS[cls]([{"params": tp}, {"params": [tp[1]]}])
    p = _p() + _p()
    with pytest.raises(ValueError, match=r"param_groups\[1\]: some parameters appear in more than one parameter group"):
        cls([{"params": p}, {"params": [p[1]]}])


ONE_CYCLE_CASES = [
    ("sgd-momentum-cos", lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), {}),
    ("adam-linear-three-phase", lambda ps: Adam(ps, lr=1e-3), lambda ps: torch.optim.Adam(ps, lr=1e-3),
     {"anneal_strategy": "linear", "three_phase": True, "pct_start": 0.25}),
    ("sgd-no-momentum-cycle", lambda ps: SGD(ps, lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1),
     {"cycle_momentum": False, "div_factor": 10.0, "final_div_factor": 100.0}),
]


@pytest.mark.parametrize("name, make_ours, make_theirs, options", ONE_CYCLE_CASES, ids=[c[0] for c in ONE_CYCLE_CASES])
def test_one_cycle_lr_and_momentum_equal_torch_at_every_step_and_after_a_resume(name, make_ours, make_theirs, options):
    from scratchnet.optim import OneCycleLR

    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 4))
    ours_p, theirs_p = Parameter(w.copy()), torch.nn.Parameter(torch.tensor(w))
    opt, topt = make_ours([ours_p]), make_theirs([theirs_p])
    sched = OneCycleLR(opt, max_lr=0.5, epochs=4, steps_per_epoch=25, **options)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.5, epochs=4, steps_per_epoch=25, **options)
    key = "betas" if "betas" in opt.defaults else "momentum"
    for step in range(100):
        assert opt.param_groups[0]["lr"] == topt.param_groups[0]["lr"], (name, step)
        ours_m, theirs_m = opt.param_groups[0].get(key), topt.param_groups[0].get(key)
        assert (tuple(ours_m) if key == "betas" else ours_m) == (tuple(theirs_m) if key == "betas" else theirs_m)
        topt.step()
        if step == 60:  # resume mid-cycle from the state dicts (flattened as checkpoints store them)
            again = make_ours([ours_p])
            again.load_flat_state_dict(opt.flat_state_dict())
            resumed = OneCycleLR(again, max_lr=0.5, epochs=4, steps_per_epoch=25, last_epoch=step, **options)
            resumed.load_flat_state_dict(sched.flat_state_dict())
            opt, sched = again, resumed
        sched.step() if step < 99 else None
        tsched.step() if step < 99 else None
    with pytest.raises(ValueError, match="total_steps is 100"):
        sched.step(), sched.step()
