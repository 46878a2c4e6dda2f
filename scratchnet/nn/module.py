"""The Module base class, Parameter and Sequential: torch.nn's shape, with explicit backprop.

A module's ``forward`` keeps what its ``backward`` needs; ``backward(dout, input_grad=True)`` returns
the gradient with respect to the input and *adds* parameter gradients into ``param.grad``, exactly as
torch does.

In-place changes between forward and backward
---------------------------------------------
torch notices when a tensor saved for backward was modified in place (a version counter on every
tensor) and raises. NumPy arrays have no such counter, so a layer whose backward reads an array the
caller can still write to (Linear and Conv2d read their input x for dL/dW; LogSoftmax reads the output
it returned) records a checksum of that array's bits when it saves it (``_save_cache(..., keep=x)``) and
compares it in backward: a changed array is a RuntimeError that names the layer, never a silently
wrong gradient. The checksum (``kernels.checksum``) reads the array once, about 5 us for a batch of 60
MNIST images. Arrays that never leave a forward call cannot be changed by anyone, so inside a
container's forward (a Sequential, a model, a residual block) the check is decided when the outermost
``model(x)`` returns: only the kept arrays that share memory with its input or its output are summed
(the first layer's input, a Flatten view of it, a returned log-softmax), the layer outputs inside the
model are not. A training step thus pays one pass over its input batch and nothing per hidden layer.
"""

from __future__ import annotations

import threading

from collections import OrderedDict
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from .. import kernels
from ..ops import _checks
from .grad_mode import is_grad_enabled

#: What ``_save_cache`` keeps in place of a cache under ``no_grad()``, so ``backward`` can say why it has none.
_NO_GRAD = object()


def key_mismatch(title: str, missing: tuple[str, list[str]], unexpected: tuple[str, list[str]],
                 misshaped: tuple[str, list[str]]) -> str:
    """An error message listing every key problem at once: the title, then one indented line ``  <label>: ...``
    per non-empty (label, entries) group; mis-shaped entries (each a key and two shapes) are joined with '; '."""
    lines = [title]
    for (label, keys), sep in ((missing, ", "), (unexpected, ", "), (misshaped, "; ")):
        if keys:
            lines.append(f"  {label}: " + sep.join(keys))
    return "\n".join(lines)


class Parameter:
    """A trainable array: ``data`` holds the values, ``grad`` the accumulated gradient (or None).

    Gradients accumulate across backward calls (``grad += new``) until ``zero_grad`` clears them,
    as in torch. A parameter with ``requires_grad=False`` receives no gradient.
    """

    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data: np.ndarray, requires_grad: bool = True) -> None:
        self.data = np.asarray(data, order="C")
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def accumulate_grad(self, g: np.ndarray) -> None:
        """Add ``g`` to ``grad`` (creating it on first use), as torch's autograd accumulates."""
        if not self.requires_grad:
            return
        if g.shape != self.data.shape:
            raise ValueError(f"gradient of shape {g.shape} does not match parameter of shape {self.data.shape}")
        if self.grad is None:
            self.grad = np.array(g, dtype=self.data.dtype, copy=True)
        else:
            self.grad += g

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}, requires_grad={self.requires_grad})"


#: Per thread: the layers whose kept arrays wait for the outermost container's forward to end (None
#: when no container forward is running).
_guards = threading.local()


def _fingerprint(a: np.ndarray) -> tuple:
    """The checksum of ``a``'s bits (see ``kernels.checksum``)."""
    if a.size == 0:
        return (0, 0)
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return kernels.checksum(a.reshape(-1).view(np.uint32))  # float32 and float64 are whole 32-bit words


class Module:
    """Base class of every layer and model.

    Subclasses set parameters and sub-modules as attributes (registered in order, as in torch),
    implement ``forward(x)`` and ``backward(dout, input_grad=True) -> dx``. ``model(x)`` calls ``forward``.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call Module.__init__() before assigning attributes")
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        buffers = self.__dict__.get("_buffers", {})
        if name in buffers:  # assigning to a buffer replaces its array (or None), as in torch
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(f"{self._name()}: buffer {name!r} must be a numpy.ndarray or None, got {type(value).__name__}")
            buffers[name] = value
            object.__setattr__(self, name, value)
            return
        params.pop(name, None)
        modules.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: np.ndarray | None) -> None:
        """Register an array that is state but not a parameter (BatchNorm's running statistics), as torch's
        ``register_buffer``: it is in ``state_dict`` (unless None), gets no gradient and no optimiser step."""
        if "_buffers" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call Module.__init__() before register_buffer")
        if value is not None and not isinstance(value, np.ndarray):
            raise TypeError(f"{self._name()}: buffer {name!r} must be a numpy.ndarray or None, got {type(value).__name__}")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    # -- forward / backward -------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:  # pragma: no cover
        """Add the parameter gradients for the upstream gradient ``dout`` (dL/doutput, the shape and dtype
        of the last forward's output) into ``param.grad`` and return dL/dx.

        ``input_grad=False`` says that nobody wants dL/dx (the input is the network's data, as a torch
        tensor without ``requires_grad``): a layer may skip computing it and return None. Every layer
        takes the argument; Sequential passes False to its first layer with parameters.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self._modules or getattr(_guards, "pending", None) is not None:
            return self.forward(x)  # a layer, or a container inside another container's forward
        # the outermost container: what its children keep is checked against its input as they keep it
        # (while the array is still in the cache), and against its output once it returns (see above)
        pending = _guards.pending = []
        _guards.root = x if isinstance(x, np.ndarray) else None
        try:
            out = self.forward(x)
        finally:
            _guards.pending = _guards.root = None
        for layer in pending:
            kept = layer.__dict__.get("_kept")
            if kept is None or kept[1] is not None:
                continue
            a = kept[0]
            if not isinstance(out, np.ndarray) or np.may_share_memory(a, out):
                object.__setattr__(layer, "_kept", (a, _fingerprint(a)))
            else:  # an array made and used inside this forward: nobody outside can change it
                object.__setattr__(layer, "_kept", None)
        return out

    def _named(self, err: Exception) -> Exception:
        """``err`` (a ValueError/TypeError from the argument checks of an op) with the layer's name in front.

        The ops check their arguments (``ops._checks``); a layer calls them through :meth:`_op`, which
        re-raises what they raise as ``self._named(err)``: this is where the layer's name joins the message.
        """
        return type(err)(f"{self._name()}: {err}")

    def _op(self, op: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``op(*args, **kwargs)``, its ValueError or TypeError re-raised with this layer's name in front (one
        Python call more per op: nothing next to the op itself)."""
        try:
            return op(*args, **kwargs)
        except (ValueError, TypeError) as err:
            raise self._named(err) from None

    def _pop_cache(self) -> Any:
        """Return the cache saved by the last forward, and forget it (one backward per forward).

        Raises a RuntimeError that names the layer when there is no forward to go back through, or
        when an array the backward reads (``keep`` of ``_save_cache``) was changed in place since.
        """
        cache = self.__dict__.get("_cache")
        if cache is None:
            raise RuntimeError(
                f"{self._name()}.backward() called without a preceding forward(): run the forward pass first "
                "(each forward supports exactly one backward, as in torch without retain_graph)"
            )
        object.__setattr__(self, "_cache", None)
        if cache is _NO_GRAD:
            raise RuntimeError(
                f"{self._name()}.backward(): the forward ran under scratchnet.no_grad(), which keeps nothing for "
                "backward; run the forward outside no_grad() to train"
            )
        kept = self.__dict__.get("_kept")
        if kept is not None:
            object.__setattr__(self, "_kept", None)
            if kept[1] is not None and _fingerprint(kept[0]) != kept[1]:
                raise RuntimeError(
                    f"{self._name()}: an array needed for the backward pass ({self._kept_what()} of shape "
                    f"{kept[0].shape}) was modified by an inplace operation between forward() and backward(); "
                    "the gradient would be wrong. Modify a copy (x = x.copy()), or run the forward pass again"
                )
        return cache

    def _kept_what(self) -> str:
        return "the input"

    def _save_cache(self, cache: Any, keep: np.ndarray | None = None) -> None:
        """Save what backward needs; under ``scratchnet.no_grad()`` keep nothing (only a marker).

        ``keep``: an array in the cache that the caller may still hold and change (the input x, or the
        output returned); backward checks that it was not changed in place.
        """
        if not is_grad_enabled():
            object.__setattr__(self, "_cache", _NO_GRAD)
            object.__setattr__(self, "_kept", None)
            return
        object.__setattr__(self, "_cache", cache)
        if keep is None:
            kept = None
        elif getattr(_guards, "pending", None) is None:  # a layer called on its own
            kept = (keep, _fingerprint(keep))
        elif _guards.root is not None and np.may_share_memory(keep, _guards.root):  # the model's input
            kept = (keep, _fingerprint(keep))
        else:  # made inside the model's forward: checked only if the model returns it (decided at the end)
            kept = (keep, None)
            _guards.pending.append(self)
        object.__setattr__(self, "_kept", kept)

    def _forget(self) -> None:
        """Drop what the last forward kept for backward, in this module and its children (nobody will
        go back through them)."""
        for m in self.modules():
            object.__setattr__(m, "_cache", None)
            object.__setattr__(m, "_kept", None)

    def _name(self) -> str:
        return type(self).__name__

    # -- traversal -------------------------------------------------------------------------------
    def children(self) -> Iterator["Module"]:
        yield from self._modules.values()

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        yield from self._modules.items()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, p in self._parameters.items():
            yield (f"{prefix}.{name}" if prefix else name), p
        for name, child in self._modules.items():
            yield from child.named_parameters(f"{prefix}.{name}" if prefix else name)

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer that is not None, with torch's dotted names (``bn1.running_mean`` ...)."""
        for name, b in self._buffers.items():
            if b is not None:
                yield (f"{prefix}.{name}" if prefix else name), b
        for name, child in self._modules.items():
            yield from child.named_buffers(f"{prefix}.{name}" if prefix else name)

    def buffers(self) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers():
            yield b

    def _named_state(self, prefix: str = "") -> Iterator[tuple[str, Module, str]]:
        """(dotted name, owner, attribute) of every parameter and buffer in torch's state_dict order:
        a module's own parameters, then its own buffers, then each child's, depth first."""
        for name in self._parameters:
            yield (f"{prefix}.{name}" if prefix else name), self, name
        for name, b in self._buffers.items():
            if b is not None:
                yield (f"{prefix}.{name}" if prefix else name), self, name
        for name, child in self._modules.items():
            yield from child._named_state(f"{prefix}.{name}" if prefix else name)

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # -- modes and gradients -------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def to(self, dtype: np.dtype | type) -> "Module":
        """Convert every parameter (and its gradient) to ``dtype`` in place, like torch's ``.to``."""
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"{self._name()}.to: expected float32 or float64, got {dtype}")
        for p in self.parameters():
            p.data = np.asarray(p.data, dtype=dtype, order="C")
            if p.grad is not None:
                p.grad = p.grad.astype(dtype)
        for m in self.modules():  # floating buffers follow (running statistics); integer ones (counters) stay
            for name, b in m._buffers.items():
                if b is not None and np.issubdtype(b.dtype, np.floating):
                    setattr(m, name, np.asarray(b, dtype=dtype, order="C"))
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    # -- state -------------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, keyed by torch's dotted names and in torch's order
        (``conv1.weight``, ..., ``bn1.running_mean``, ``bn1.num_batches_tracked`` ...)."""
        return OrderedDict((name, np.array(_state_value(owner, attr), copy=True)) for name, owner, attr in self._named_state())

    def load_state_dict(self, state: Mapping[str, np.ndarray], strict: bool = True) -> dict[str, list[str]]:
        """Copy arrays from ``state`` into the parameters, keeping each parameter's dtype.

        Every problem is found before anything is written; with ``strict`` any missing,
        unexpected or mis-shaped entry raises a KeyError/ValueError that lists all of them.
        Returns ``{"missing_keys": [...], "unexpected_keys": [...]}`` as torch does.
        """
        own = OrderedDict((name, (owner, attr)) for name, owner, attr in self._named_state())
        shapes = {k: np.shape(_state_value(*v)) for k, v in own.items()}
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        misshaped = [
            f"{k}: expected {shapes[k]}, got {tuple(np.shape(state[k]))}"
            for k in own
            if k in state and tuple(np.shape(state[k])) != shapes[k]
        ]
        if misshaped or (strict and (missing or unexpected)):
            raise ValueError(key_mismatch(f"Error(s) in loading state_dict for {self._name()}:", ("missing keys", missing),
                                          ("unexpected keys", unexpected), ("size mismatch", misshaped)))
        for k, (owner, attr) in own.items():
            if k not in state:
                continue
            value = np.asarray(state[k])
            current = _state_value(owner, attr)
            wanted = np.floating if np.issubdtype(current.dtype, np.floating) else np.integer
            if not np.issubdtype(value.dtype, wanted):
                raise ValueError(
                    f"{self._name()}.load_state_dict: {k} has dtype {value.dtype}, expected {wanted.__name__} values"
                )
        for k, (owner, attr) in own.items():
            if k in state:
                current = _state_value(owner, attr)
                value = np.array(np.asarray(state[k]), dtype=current.dtype, copy=True, order="C")
                if attr in owner._parameters:
                    owner._parameters[attr].data = value
                else:
                    setattr(owner, attr, value)
        return {"missing_keys": missing, "unexpected_keys": unexpected}

    # -- display -------------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        lines.append(")")
        return "\n".join(lines)


def _state_value(owner: Module, attr: str) -> np.ndarray:
    """The array behind a state_dict entry: a parameter's data or a buffer."""
    p = owner._parameters.get(attr)
    return p.data if p is not None else owner._buffers[attr]


def needs_grad(module: Module) -> bool:
    """Whether any parameter of ``module`` (or its children) is trainable (``requires_grad``)."""
    return any(p.requires_grad for p in module.parameters())


class OpPair(Module):
    """A layer that is one op pair and nothing else (no parameters): the pools, ReLU and the element-wise
    activations.

    A subclass names its ops (``_forward_op`` and ``_backward_op``, staticmethods) and the arguments its
    forward op takes after x (``_op_args``). forward runs ``out, cache = _forward_op(x, *args)``; backward
    checks dout against the output's shape and dtype, then runs ``_backward_op(dout, cache)``. The ops check
    everything else, and what they raise comes back with the layer's name (``_op``). ``_keeps_output``: the
    cache is the output itself, which the caller holds, so backward checks that it was not changed in place.
    """

    _forward_op = _backward_op = None  # set by subclasses (staticmethods)
    _keeps_output = False

    def _op_args(self, x: np.ndarray) -> tuple:
        return ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, cache = self._op(self._forward_op, x, *self._op_args(x))
        out = np.asarray(out)  # NumPy gives a scalar, not a 0-d array, for some ops on 0-d input
        self._save_cache((cache, out.shape, out.dtype), keep=out if self._keeps_output else None)
        return out

    def _kept_what(self) -> str:
        return "the output it returned"

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dL/dx, or None with ``input_grad=False`` (the layer has nothing else to compute)."""
        cache, shape, dtype = self._pop_cache()
        dout = self._op(_checks.upstream, dout, shape, dtype)
        return np.asarray(self._backward_op(dout, cache)) if input_grad else None


class Sequential(Module):
    """Modules applied in order; ``backward`` walks them in reverse.

    ``Sequential(a, b, c)`` names the children ``0, 1, 2`` as torch does;
    ``Sequential(OrderedDict(conv1=..., relu1=...))`` keeps the given names.
    """

    def __init__(self, *layers: Module | "OrderedDict[str, Module]") -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            items = list(layers[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(layers)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: child {name!r} is a {type(m).__name__}, expected a Module")
            setattr(self, name, m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | str) -> Module:
        if isinstance(idx, str):
            return self._modules[idx]
        return list(self._modules.values())[idx]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for m in self._modules.values():
            x = m(x)
        return x

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backprop through the children in reverse order and return dL/dinput.

        ``input_grad=False`` is torch's input without ``requires_grad``: nobody wants dL/dinput, so the
        backward stops at the first layer with trainable parameters (its weight gradients are still
        computed, its input gradient is not; frozen layers below it are not visited) and returns None.
        Training loops use it; the default keeps it. Every child's backward takes ``input_grad`` (the
        base signature); only the first child with trainable parameters is passed False.
        """
        mods = list(self._modules.values())
        first = 0
        if not input_grad:  # the earliest child whose own parameters need a gradient
            first = next((i for i, m in enumerate(mods) if needs_grad(m)), len(mods))
            for m in mods[:first]:  # parameter-free or frozen layers in front: nothing to compute
                m._forget()
        for i in range(len(mods) - 1, first, -1):
            dout = mods[i].backward(dout)
        if first < len(mods):
            dout = mods[first].backward(dout) if input_grad else mods[first].backward(dout, input_grad=False)
        return dout if input_grad else None
