"""Loss modules: CrossEntropyLoss (fused log-softmax + NLL on logits) and NLLLoss (on log-probabilities).

``loss = crit(logits, y)`` returns a Python float; ``crit.backward()`` returns dL/dlogits,
which is what ``model.backward`` takes.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from .module import Module


class _Loss(Module):
    _loss_op = None  # set by subclasses: (scores, target, reduction) -> (loss, dscores)

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ops.loss.REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {ops.loss.REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def __call__(self, scores: np.ndarray, target: np.ndarray) -> float:  # type: ignore[override]
        return self.forward(scores, target)

    def forward(self, scores: np.ndarray, target: np.ndarray) -> float:  # type: ignore[override]
        who = type(self).__name__
        if not isinstance(scores, np.ndarray) or scores.ndim != 2:
            raise ValueError(f"{who}: expected scores of shape (N, num_classes), got {np.shape(scores)}")
        if scores.dtype not in (np.float32, np.float64):
            raise ValueError(f"{who}: expected float32 or float64 scores, got dtype {scores.dtype}")
        loss, grad = self._op(type(self)._loss_op, scores, target, self.reduction, **self._op_kwargs())
        self._save_cache(grad)
        return loss

    def _op_kwargs(self) -> dict:
        """The op's keyword arguments beyond the reduction (none here)."""
        return {}

    def backward(self, grad_output: float = 1.0) -> np.ndarray:  # type: ignore[override]
        """dL/dscores, scaled by ``grad_output`` (the gradient of whatever uses the loss; 1 by default)."""
        grad = self._pop_cache()
        return grad if grad_output == 1.0 else grad * grad.dtype.type(grad_output)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """-log softmax(z)[y], averaged over the batch; gradient (softmax(z) - onehot(y)) / N.

    Stable for logits of any magnitude (the row maximum is subtracted before exp).
    Labels must be integers in [0, num_classes); anything else is a clear ValueError.
    ``label_smoothing`` e in [0, 1] (as torch's): the target becomes (1 - e) onehot(y) + e / num_classes.
    """

    _loss_op = staticmethod(ops.softmax_cross_entropy)

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be a number between 0.0 and 1.0, "
                             f"got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def _op_kwargs(self) -> dict:
        return {"label_smoothing": self.label_smoothing}

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", label_smoothing={self.label_smoothing}" if self.label_smoothing else "")


class NLLLoss(_Loss):
    """-logp[y] averaged over the batch, for log-probabilities (e.g. the output of LogSoftmax)."""

    _loss_op = staticmethod(ops.nll_loss)
