"""Adam (Kingma & Ba, 2015), with optional AMSGrad and L2 weight decay.

Same update rule, defaults, argument names and checks as ``torch.optim.Adam`` (single-tensor path),
including its order of floating-point operations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet import kernels
from scratchnet.nn.module import Parameter
from scratchnet.optim.optimizer import Optimizer, ParamsT, _check_bool, _check_range, _check_real, count_step, update_flat

__all__ = ["Adam"]


class Adam(Optimizer):
    r"""Adam: adaptive moment estimation, as ``torch.optim.Adam``.

    For each parameter :math:`\theta` with gradient :math:`g_t` at step :math:`t = 1, 2, \dots`
    (moments :math:`m_0 = v_0 = 0`):

    .. math::

        g_t &\leftarrow -g_t \quad \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda\,\theta_{t-1} \quad \text{(L2 weight decay } \lambda\text{)} \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t
            \quad \text{computed as } m_{t-1} + (1-\beta_1)(g_t - m_{t-1}) \text{ (lerp)} \\
        v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \text{ if amsgrad, else } v_t \\
        \theta_t &= \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\;
            \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1-\beta_2^t} + \epsilon}

    The bias corrections :math:`1-\beta_1^t` and :math:`\sqrt{1-\beta_2^t}` are Python floats; note
    that :math:`\epsilon` is added *after* the bias correction of :math:`\sqrt{\hat v_t}`.

    Parameters
    ----------
    params : iterable of Parameter or of dicts
        Parameters to optimise, or parameter groups (see ``Optimizer``).
    lr : float, default 1e-3
        Learning rate :math:`\gamma >= 0`: about the largest step a coordinate takes, whatever the gradient's
        scale (the update is normalised by :math:`\sqrt{\hat v_t}`).
    betas : (float, float), default (0.9, 0.999)
        Decay rates :math:`(\beta_1, \beta_2)` of the moment averages, each in [0, 1).
    eps : float, default 1e-8
        :math:`\epsilon >= 0`, added to the denominator for numerical stability.
    weight_decay : float, default 0
        L2 penalty :math:`\lambda >= 0`, added to the gradient (not decoupled: that is AdamW).
    amsgrad : bool, default False
        Use the running maximum of :math:`v_t` (Reddi et al., 2018).
    maximize : bool, default False
        Maximise the objective instead of minimising it.

    State
    -----
    ``step`` (int), ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`) and, with amsgrad,
    ``max_exp_avg_sq`` (:math:`\hat v`): ndarrays like ``p.data``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        if isinstance(betas, list):
            betas = tuple(betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, hp: dict[str, Any], where: str) -> None:
        super()._check_hyperparameters(hp, where)
        _check_range(hp, "eps", where, "epsilon value")
        betas = hp["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{where}: betas should be a pair (beta1, beta2), but got {betas!r}")
        for i, beta in enumerate(betas):
            _check_real(beta, f"betas[{i}]", where)
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{where}: invalid beta parameter at index {i}: {beta} (expected 0 <= beta < 1)")
        _check_bool(hp["amsgrad"], "amsgrad", where)

    def _update(self, param: Parameter, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr = float(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        amsgrad = group["amsgrad"]
        p = param.data

        step = count_step(state, p, "exp_avg", "exp_avg_sq")

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        if amsgrad and "max_exp_avg_sq" not in state:  # its first step, or amsgrad switched on after some steps
            state["max_exp_avg_sq"] = np.zeros_like(p)
        # one pass per parameter, the NumPy expressions of torch's single-tensor Adam element by element:
        # g <- -g (maximize); g <- g + wd * p; m <- lerp(m, g, 1 - beta1); v <- v * beta2 + ((1 - beta2) * g) * g;
        # vmax <- max(vmax, v) (amsgrad); p <- p - (lr / bc1 * m) / (sqrt(v or vmax) / sqrt(bc2) + eps),
        # every scalar rounded to the parameter's dtype first, as NumPy does with a Python float
        t = p.dtype.type
        w = t(1 - beta1)
        vmax = "max_exp_avg_sq" if amsgrad else "exp_avg_sq"  # the kernel reads v in its place without amsgrad
        update_flat(p, grad, state, ("exp_avg", "exp_avg_sq", vmax), kernels.adam_update, bool(amsgrad),
                    bool(group["maximize"]), t(weight_decay), w, t(1) - w, t(beta2), t(1 - beta2),
                    t(bias_correction2**0.5), t(eps), t(lr / bias_correction1))

