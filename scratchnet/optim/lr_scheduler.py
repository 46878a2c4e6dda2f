"""Learning-rate schedulers: StepLR, MultiStepLR, ExponentialLR (per epoch) and OneCycleLR (per batch) on a
small LRScheduler base.

The per-epoch ones follow torch.optim.lr_scheduler's *chainable* form: each ``step()`` multiplies the
current ``group['lr']`` by a factor; OneCycleLR computes each rate in closed form from the step number,
as torch's does. Either way the learning rates agree with torch's bit for bit.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Mapping

import numpy as np

from scratchnet.optim.optimizer import Optimizer, flatten_state, unflatten_state

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "OneCycleLR"]


class LRScheduler:
    r"""Base class of the learning-rate schedulers (torch's ``LRScheduler``).

    On construction with ``last_epoch=-1`` it records each group's learning rate as
    ``group['initial_lr']`` (and in ``base_lrs``), then takes one initial ``step()`` to epoch 0.
    Each later ``step()`` advances ``last_epoch`` by one and sets ``group['lr']`` to ``get_lr()``.
    Call it once per epoch, *after* ``optimizer.step()``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimiser whose ``param_groups[i]['lr']`` this scheduler sets.
    last_epoch : int, default -1
        Index of the last epoch; leave -1 except when resuming (then every group must already have
        an ``'initial_lr'``, as after loading an optimiser state dict). Prefer ``load_state_dict``.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: optimizer should be a scratchnet Optimizer, but got {type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, numbers.Integral) or last_epoch < -1:
            raise ValueError(f"{name}: invalid last_epoch: {last_epoch!r} (expected an int >= -1)")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{name}: param_groups[{i}] has no 'initial_lr' although last_epoch={last_epoch} "
                        "(expected last_epoch=-1 for a fresh run, or an optimizer whose state dict was loaded)"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """Return the learning rates for epoch ``last_epoch`` (already advanced), one per group."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_lr")

    def step(self) -> None:
        """Advance one epoch: ``last_epoch += 1`` and set every ``group['lr']`` to ``get_lr()``."""
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """Return the learning rates set by the last ``step()`` (a new list), one per group."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    # -- state dicts -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Return the scheduler's state (every attribute but the optimiser), with torch's key names.

        Only Python numbers and lists, so it can be saved without pickle (see ``flat_state_dict``).
        """
        return {
            key: (list(value) if isinstance(value, (list, tuple)) else value)
            for key, value in self.__dict__.items()
            if key != "optimizer"
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state returned by ``state_dict()``; unknown keys raise a KeyError naming them."""
        unknown = sorted(set(state_dict) - set(self.state_dict()))
        if unknown:
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: unexpected keys {unknown} "
                f"(expected some of {sorted(self.state_dict())})"
            )
        for key, value in state_dict.items():
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, np.generic):
                value = value.item()
            elif isinstance(value, (list, tuple)):
                value = [v.item() if isinstance(v, np.generic) else v for v in value]
            setattr(self, key, value)

    def flat_state_dict(self) -> dict[str, np.ndarray]:
        """``state_dict()`` flattened to ``{str: ndarray}`` (see ``flatten_state``), ready for ``np.savez``."""
        return flatten_state(self.state_dict())

    def load_flat_state_dict(self, flat: Mapping[str, np.ndarray]) -> None:
        """Load what ``flat_state_dict()`` returned."""
        self.load_state_dict(unflatten_state(flat))

    def __repr__(self) -> str:
        hp = {k: v for k, v in self.state_dict().items() if not k.startswith("_") and k not in ("base_lrs",)}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in hp.items())})"


def _check_gamma(gamma: Any, name: str) -> float:
    if isinstance(gamma, (bool, np.bool_)) or not isinstance(gamma, numbers.Real):
        raise TypeError(f"{name}: gamma should be a real number, but got {gamma!r} ({type(gamma).__name__})")
    return gamma


class StepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` epochs, as torch's ``StepLR``.

    .. math::

        \eta_e = \begin{cases} \gamma\, \eta_{e-1} & e > 0 \text{ and } e \bmod s = 0 \\
                               \eta_{e-1} & \text{otherwise} \end{cases}
        \qquad\text{so}\qquad \eta_e \approx \eta_0\, \gamma^{\lfloor e/s \rfloor}

    (chainable: the current ``group['lr']`` is multiplied, exactly as torch does, so other changes
    to the learning rate combine with it).

    Parameters
    ----------
    optimizer : Optimizer
        Wrapped optimiser.
    step_size : int
        Period :math:`s >= 1` of the decay, in epochs.
    gamma : float, default 0.1
        Multiplicative factor :math:`\gamma`.
    last_epoch : int, default -1
        Index of the last epoch (see ``LRScheduler``).

    Examples
    --------
    The official PyTorch MNIST example: ``opt = Adadelta(model.parameters(), lr=1.0)``,
    ``sched = StepLR(opt, step_size=1, gamma=0.7)``, then ``sched.step()`` after each epoch.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral) or step_size < 1:
            raise ValueError(f"StepLR: invalid step_size: {step_size!r} (expected an int >= 1)")
        self.step_size = int(step_size)
        self.gamma = _check_gamma(gamma, "StepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class MultiStepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` at each milestone epoch, as torch's ``MultiStepLR``.

    .. math::

        \eta_e = \gamma^{n(e)}\, \eta_{e-1}, \qquad n(e) = \text{how many times } e \text{ is a milestone}

    Parameters
    ----------
    optimizer : Optimizer
        Wrapped optimiser.
    milestones : iterable of int
        Epoch indices (a repeated milestone decays once per repetition, as in torch).
    gamma : float, default 0.1
        Multiplicative factor :math:`\gamma`.
    last_epoch : int, default -1
        Index of the last epoch (see ``LRScheduler``).
    """

    def __init__(
        self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        milestones = list(milestones)
        for m in milestones:
            if isinstance(m, bool) or not isinstance(m, numbers.Integral):
                raise TypeError(f"MultiStepLR: milestones should be ints, but got {m!r} in {milestones!r}")
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = _check_gamma(gamma, "MultiStepLR")
        super().__init__(optimizer, last_epoch)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        state_dict = dict(state_dict)
        if isinstance(state_dict.get("milestones"), Mapping):  # torch keeps a Counter {epoch: count}
            counts = state_dict["milestones"]
            state_dict["milestones"] = sorted(int(m) for m, n in counts.items() for _ in range(int(n)))
        super().load_state_dict(state_dict)

    def get_lr(self) -> list[float]:
        count = self.milestones.count(self.last_epoch)
        if count == 0:
            return self._current_lrs()
        return [group["lr"] * self.gamma**count for group in self.optimizer.param_groups]


class ExponentialLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every epoch, as torch's ``ExponentialLR``.

    .. math::

        \eta_e = \gamma\, \eta_{e-1} \quad (e \ge 1) \qquad\text{so}\qquad \eta_e \approx \eta_0\, \gamma^{e}

    Parameters
    ----------
    optimizer : Optimizer
        Wrapped optimiser.
    gamma : float
        Multiplicative factor :math:`\gamma`.
    last_epoch : int, default -1
        Index of the last epoch (see ``LRScheduler``).
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _check_gamma(gamma, "ExponentialLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:  # the constructor's step to epoch 0 (or to a resumed epoch) keeps the lr
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class OneCycleLR(LRScheduler):
    r"""The one-cycle policy (Smith & Topin), as torch's ``OneCycleLR``: stepped after every *batch*.

    The learning rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    the ``total_steps``, then falls to ``max_lr / (div_factor * final_div_factor)``; with
    ``cycle_momentum`` the momentum (SGD) or :math:`\beta_1` (Adam) moves the opposite way, between
    ``max_momentum`` and ``base_momentum``. Each phase anneals from :math:`a` to :math:`b` over the
    fraction :math:`t \in [0, 1]` of its steps:

    .. math::

        \text{cos: } b + \frac{a - b}{2}\,(1 + \cos \pi t) \qquad\qquad \text{linear: } a + (b - a)\, t

    Phases end at step ``pct_start * total_steps - 1`` and ``total_steps - 1`` (three-phase: the rise, a
    symmetric fall back to the initial rate, then the annihilation to the minimum), as in torch; the
    rate is computed in closed form from the step number, so it equals torch's bit for bit.

    Parameters
    ----------
    optimizer : Optimizer
    max_lr : float or list of float (one per group)
    total_steps : int, or None with ``epochs`` and ``steps_per_epoch``
    pct_start, anneal_strategy ("cos" | "linear"), cycle_momentum, base_momentum, max_momentum,
    div_factor, final_div_factor, three_phase, last_epoch : torch's meaning and defaults.
    """

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85, max_momentum: float = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        if not 0 <= pct_start <= 1 or isinstance(pct_start, bool):
            raise ValueError(f"OneCycleLR: expected a float between 0 and 1 for pct_start, got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.pct_start, self.anneal_strategy, self.three_phase = float(pct_start), anneal_strategy, bool(three_phase)
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        if len(max_lrs) != len(groups):
            raise ValueError(f"OneCycleLR: expected {len(groups)} max_lr values, got {len(max_lrs)}")
        if last_epoch == -1:
            for group, top in zip(groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and not self.use_beta1:
                raise ValueError("OneCycleLR: optimizer must support momentum or beta1 with cycle_momentum enabled")
            if last_epoch == -1:
                for group in groups:
                    if self.use_beta1:
                        group["betas"] = (max_momentum, *group["betas"][1:])
                    else:
                        group["momentum"] = max_momentum
                    group["max_momentum"], group["base_momentum"] = max_momentum, base_momentum
        super().__init__(optimizer, last_epoch)

    def _phases(self) -> list[tuple[float, str, str, str, str]]:
        """(end step, start lr key, end lr key, start momentum key, end momentum key) per phase."""
        up = float(self.pct_start * self.total_steps) - 1
        if self.three_phase:
            return [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                    (float(2 * self.pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum",
                     "max_momentum"),
                    (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        return [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; total_steps is {self.total_steps}")
        lrs, phases = [], self._phases()
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr_a, lr_b, mom_a, mom_b) in enumerate(phases):
                if step <= end or i == len(phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(self._anneal(group[lr_a], group[lr_b], pct))
                    if self.cycle_momentum:
                        momentum = self._anneal(group[mom_a], group[mom_b], pct)
                        if self.use_beta1:
                            group["betas"] = (momentum, *group["betas"][1:])
                        else:
                            group["momentum"] = momentum
                    break
                start = end
        return lrs


def _total_steps(total_steps: int | None, epochs: int | None, steps_per_epoch: int | None) -> int:
    if total_steps is not None:
        if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps <= 0:
            raise ValueError(f"OneCycleLR: expected a positive integer total_steps, got {total_steps!r}")
        return int(total_steps)
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"OneCycleLR: expected a positive integer {name} (or total_steps), got {value!r}")
    return int(epochs) * int(steps_per_epoch)
