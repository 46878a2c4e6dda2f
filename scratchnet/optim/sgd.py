"""Stochastic gradient descent, with momentum, dampening, Nesterov momentum and weight decay.

Same update rule, defaults, argument names and checks as ``torch.optim.SGD`` (single-tensor path).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet import kernels
from scratchnet.nn.module import Parameter
from scratchnet.optim.optimizer import Optimizer, ParamsT, _check_bool, _check_range, _check_real, update_flat

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    For each parameter :math:`\theta` with gradient :math:`g_t` at step :math:`t`:

    .. math::

        g_t &\leftarrow -g_t \quad \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda\,\theta_{t-1} \quad \text{(weight decay } \lambda\text{)} \\
        b_t &= \begin{cases} g_t & t = 1 \\ \mu\, b_{t-1} + (1-\tau)\, g_t & t > 1 \end{cases}
            \quad \text{(if momentum } \mu \ne 0\text{; dampening } \tau\text{)} \\
        g_t &\leftarrow \begin{cases} g_t + \mu\, b_t & \text{nesterov} \\ b_t & \text{otherwise} \end{cases} \\
        \theta_t &= \theta_{t-1} - \gamma\, g_t \quad \text{(learning rate } \gamma\text{)}

    Note that the first momentum buffer is the gradient itself (no dampening), and that the
    learning rate multiplies the whole step, momentum included, as in torch (Sutskever et al. put
    it inside the buffer instead).

    Parameters
    ----------
    params : iterable of Parameter or of dicts
        Parameters to optimise, or parameter groups (see ``Optimizer``).
    lr : float, default 1e-3
        Learning rate :math:`\gamma >= 0`, times the whole step (momentum included, as in torch).
    momentum : float, default 0
        Momentum factor :math:`\mu >= 0`.
    dampening : float, default 0
        Dampening :math:`\tau` for momentum.
    weight_decay : float, default 0
        L2 penalty :math:`\lambda >= 0`, added to the gradient.
    nesterov : bool, default False
        Use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
    maximize : bool, default False
        Maximise the objective instead of minimising it.

    State
    -----
    ``state[p]['momentum_buffer']`` : ndarray like ``p.data``, only when ``momentum != 0``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_hyperparameters(self, hp: dict[str, Any], where: str) -> None:
        super()._check_hyperparameters(hp, where)
        _check_range(hp, "momentum", where)
        _check_real(hp["dampening"], "dampening", where)
        _check_bool(hp["nesterov"], "nesterov", where)
        if hp["nesterov"] and (hp["momentum"] <= 0 or hp["dampening"] != 0):
            raise ValueError(
                f"{where}: Nesterov momentum requires a momentum and zero dampening "
                f"(expected momentum > 0 and dampening == 0, got momentum={hp['momentum']}, "
                f"dampening={hp['dampening']})"
            )

    def _update(self, param: Parameter, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        p, momentum = param.data, float(group["momentum"])

        # one pass per parameter, torch's single-tensor SGD as NumPy would evaluate it element by element:
        # d <- -g (maximize); d <- d + wd * p; buf <- d (first step) or buf * momentum + (1 - dampening) * d;
        # d <- d + momentum * buf (Nesterov) or buf; p <- p - lr * d, every scalar rounded to p's dtype first
        t = p.dtype.type
        first = momentum != 0 and state.get("momentum_buffer") is None
        if first:
            state["momentum_buffer"] = np.empty(p.shape, dtype=p.dtype)
        keys = ("momentum_buffer",) if momentum != 0 else ()
        no_buffer = () if momentum != 0 else (np.empty(0, dtype=p.dtype),)  # the kernel's buf argument, unused
        update_flat(p, grad, state, keys, kernels.sgd_update, *no_buffer, first, bool(group["maximize"]),
                    t(group["weight_decay"]), t(momentum), t(1 - group["dampening"]), bool(group["nesterov"]),
                    t(group["lr"]))
