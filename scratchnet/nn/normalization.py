"""BatchNorm1d and BatchNorm2d: torch's names, defaults, buffers and train/eval behaviour.

Training normalises with the batch's statistics and folds them into ``running_mean``/``running_var``;
evaluation normalises with those running statistics. The math lives in ``scratchnet.ops.batchnorm``.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ops import _checks
from .module import Module, Parameter


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d, which differ only in the input shapes they accept.

    Parameters (torch's): ``num_features`` C; ``eps`` added to the variance; ``momentum`` the weight of
    the new batch in the running statistics, or None for their cumulative average; ``affine`` learnable
    ``weight`` (gamma, ones) and ``bias`` (beta, zeros); ``track_running_stats`` keep ``running_mean``
    (zeros), ``running_var`` (ones) and ``num_batches_tracked`` (int64) as buffers and use them in eval
    (without them, eval normalises with batch statistics too).
    """

    _shapes = ""  # the accepted shapes, for messages

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{name}: num_features must be an int >= 1, got {num_features!r}")
        if not eps > 0:
            raise ValueError(f"{name}: eps must be > 0, got {eps!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum!r}")
        dt = _checks.float_dtype(dtype, name)
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.weight = Parameter(np.ones(num_features, dtype=dt)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dt)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dt))
            self.register_buffer("running_var", np.ones(num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self._dtype = dt

    def _name(self) -> str:
        return f"{type(self).__name__}(num_features={self.num_features})"

    def _param_dtype(self) -> np.dtype:
        if self.weight is not None:
            return self.weight.dtype
        return self.running_mean.dtype if self.running_mean is not None else self._dtype

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def _check_shape(self, x: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        who = self._name()
        self._op(_checks.float_array, x)
        self._op(_checks.same_dtype, x, self._param_dtype())
        self._check_shape(x)
        use_batch_stats = self.training or self.running_mean is None
        if use_batch_stats and x.size and x.size // self.num_features <= 1:  # an empty batch goes, as in torch
            raise ValueError(f"{who}: expected more than 1 value per channel when training, got input {x.shape}")
        factor = 0.0
        update = self.training and self.track_running_stats
        if update:
            self.num_batches_tracked += 1
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else float(self.momentum)
        w = None if self.weight is None else self.weight.data
        b = None if self.bias is None else self.bias.data
        out, cache = ops.batchnorm_forward(
            x, w, b, self.eps,
            None if use_batch_stats else self.running_mean,
            None if use_batch_stats else self.running_var,
        )
        if update and x.size:  # torch counts an empty batch but leaves the running statistics alone
            ops.update_running_stats(self.running_mean, self.running_var, cache, factor)
        x3 = cache.x  # backward reads the input (for dgamma and dx): check it is not changed in place
        self._save_cache(cache, keep=x3 if x3 is x or x3.base is not None else None)
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Accumulate dL/dweight and dL/dbias (if affine and trainable); return dL/dx, or None with
        ``input_grad=False``."""
        cache = self._pop_cache()
        dout = self._op(_checks.upstream, dout, tuple(cache.shape), cache.x.dtype)
        trainable = self.affine and (self.weight.requires_grad or self.bias.requires_grad)
        dx, dgamma, dbeta = ops.batchnorm_backward(dout, cache, need_dx=input_grad, need_dparams=trainable)
        if trainable:
            self.weight.accumulate_grad(dgamma)
            self.bias.accumulate_grad(dbeta)
        return dx

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input: statistics per channel over N (and L)."""

    def _check_shape(self, x: np.ndarray) -> None:
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(
                f"{self._name()}: expected input (N, {self.num_features}) or (N, {self.num_features}, L), got {x.shape}"
            )


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input: statistics per channel over N, H and W."""

    def _check_shape(self, x: np.ndarray) -> None:
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"{self._name()}: expected input (N, {self.num_features}, H, W), got {x.shape}")
