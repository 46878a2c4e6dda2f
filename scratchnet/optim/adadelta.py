"""Adadelta (Zeiler, 2012): a learning rate per element from running averages of g^2 and of updates^2.

Same update rule, defaults, argument names and checks as ``torch.optim.Adadelta`` (single-tensor path);
it is the optimiser of the official PyTorch MNIST example (with ``StepLR(step_size=1, gamma=0.7)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet import kernels
from scratchnet.nn.module import Parameter
from scratchnet.optim.optimizer import Optimizer, ParamsT, _check_range, count_step, update_flat

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta, as ``torch.optim.Adadelta``.

    For each parameter :math:`\theta` with gradient :math:`g_t` (running averages
    :math:`E[g^2]_0 = E[\Delta^2]_0 = 0`):

    .. math::

        g_t &\leftarrow -g_t \quad \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda\,\theta_{t-1} \quad \text{(weight decay } \lambda\text{)} \\
        E[g^2]_t &= \rho\, E[g^2]_{t-1} + (1-\rho)\, g_t^2 \\
        \Delta_t &= \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\; g_t \\
        E[\Delta^2]_t &= \rho\, E[\Delta^2]_{t-1} + (1-\rho)\, \Delta_t^2 \\
        \theta_t &= \theta_{t-1} - \gamma\, \Delta_t

    The ratio of the two root-mean-squares gives each element its own step size, in the units of
    :math:`\theta`; :math:`\gamma` (default 1) only scales it.

    Parameters
    ----------
    params : iterable of Parameter or of dicts
        Parameters to optimise, or parameter groups (see ``Optimizer``).
    lr : float, default 1.0
        Coefficient :math:`\gamma >= 0` that scales :math:`\Delta_t`.
    rho : float, default 0.9
        Decay rate :math:`\rho` in [0, 1] of the running averages.
    eps : float, default 1e-6
        :math:`\epsilon >= 0` inside both square roots (it also sets the size of the first steps).
    weight_decay : float, default 0
        L2 penalty :math:`\lambda >= 0`, added to the gradient.
    maximize : bool, default False
        Maximise the objective instead of minimising it.

    State
    -----
    ``step`` (int), ``square_avg`` (:math:`E[g^2]`) and ``acc_delta`` (:math:`E[\Delta^2]`):
    ndarrays like ``p.data``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, hp: dict[str, Any], where: str) -> None:
        super()._check_hyperparameters(hp, where)
        _check_range(hp, "rho", where, upper=1)
        _check_range(hp, "eps", where, "epsilon value")

    def _update(self, param: Parameter, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        p = param.data

        count_step(state, p, "square_avg", "acc_delta")

        # one pass per parameter, torch's single-tensor Adadelta as NumPy would evaluate it element by element:
        # g <- -g (maximize); g <- g + wd * p; s <- s * rho + ((1 - rho) * g) * g;
        # delta = sqrt(a + eps) / sqrt(s + eps) * g; a <- a * rho + ((1 - rho) * delta) * delta; p <- p - lr * delta,
        # every scalar rounded to the parameter's dtype first, as NumPy does with a Python float
        t, rho = p.dtype.type, float(group["rho"])
        update_flat(p, grad, state, ("square_avg", "acc_delta"), kernels.adadelta_update, bool(group["maximize"]),
                    t(group["weight_decay"]), t(rho), t(1 - rho), t(group["eps"]), t(group["lr"]))
