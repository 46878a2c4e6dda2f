"""The Optimizer base class: parameter groups, per-parameter state, zero_grad and state dicts.

Subclasses (SGD, Adam, Adadelta) only write the update of *one* parameter, as torch's single-tensor
(for-loop) implementations do; this file holds everything they share, in torch.optim's shape.
Also here: ``flatten_state`` / ``unflatten_state``, which turn a state dict into ``{str: np.ndarray}``
(and back) so that it can be saved with ``np.savez`` and read without pickle.
"""

from __future__ import annotations

import json
import numbers
from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping, Union

import numpy as np

from scratchnet.nn.module import Parameter

__all__ = ["Optimizer", "ParamsT", "flatten_state", "unflatten_state", "STRUCTURE_KEY", "update_flat"]

#: What an optimiser accepts: Parameters, ``(name, Parameter)`` pairs, or dicts of parameter groups.
ParamsT = Union[Iterable[Parameter], Iterable[tuple[str, Parameter]], Iterable[dict[str, Any]]]


class Optimizer:
    r"""Base class of all optimisers (torch.optim.Optimizer's shape).

    Parameters
    ----------
    params : iterable of Parameter, of ``(name, Parameter)`` pairs, or of dicts
        The parameters to optimise, e.g. ``model.parameters()``. A list of dicts defines *parameter
        groups*: each dict has a ``'params'`` entry and may override any default, e.g.
        ``[{'params': body.parameters()}, {'params': head.parameters(), 'lr': 1e-2}]``.
    defaults : dict
        The default hyper-parameters (``lr``, ...) that every group inherits unless it overrides them.

    Attributes
    ----------
    param_groups : list of dict
        One dict per group: ``'params'`` (list of Parameter) and every hyper-parameter. Schedulers
        change ``group['lr']`` here, between steps.
    state : dict
        ``state[param]`` is that parameter's dict of buffers (``'exp_avg'``, ``'step'``, ...), created
        lazily at its first update.

    Notes
    -----
    A training step is ``opt.zero_grad(); model.backward(crit.backward()); opt.step()``. ``step`` updates
    every parameter whose ``grad`` is not None (and whose ``requires_grad`` is True) *in place*, so
    arrays held elsewhere (views, a model's ``state_dict``) stay valid. Gradients are never modified.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self._check_hyperparameters(self.defaults, self._name())
        self.state: defaultdict[Parameter, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []

        if isinstance(params, (Parameter, np.ndarray)):
            raise TypeError(
                f"{self._name()}: params should be an iterable of Parameters or of dicts "
                f"(e.g. model.parameters()), but got a single {type(params).__name__}; wrap it in a list"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{self._name()}: params should be an ordered collection (list, generator), but got a set: "
                "the order of a set changes between runs, and the state dict relies on the order"
            )
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(
                f"{self._name()}: params should be an iterable of Parameters or of dicts, "
                f"but got {type(params).__name__}"
            ) from None
        if len(groups) == 0:
            raise ValueError(f"{self._name()}: optimizer got an empty parameter list (expected at least one Parameter)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- construction ----------------------------------------------------------------------------
    def _name(self) -> str:
        return type(self).__name__

    def _check_hyperparameters(self, hp: Mapping[str, Any], where: str) -> None:
        """Raise a ValueError naming the argument when a hyper-parameter is out of range.

        ``where`` starts each message ("Adam" or "Adam param_groups[1]"). Subclasses extend this.
        """
        if "lr" in hp:
            _check_range(hp, "lr", where, "learning rate")
        if "weight_decay" in hp:
            _check_range(hp, "weight_decay", where)
        if "maximize" in hp:
            _check_bool(hp["maximize"], "maximize", where)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with optional hyper-parameter overrides) to ``param_groups``.

        Parameters
        ----------
        param_group : dict
            ``{'params': iterable of Parameter, <hyper-parameter>: value, ...}``; missing
            hyper-parameters are taken from the optimiser's defaults.

        Raises
        ------
        TypeError
            If it is not a dict, or an entry of ``'params'`` is not a Parameter.
        ValueError
            If ``'params'`` is missing, a hyper-parameter is invalid, or a parameter is already in
            a group (each parameter may appear once in the whole optimiser).
        """
        index = len(self.param_groups)
        where = f"{self._name()} param_groups[{index}]"
        if not isinstance(param_group, dict):
            raise TypeError(f"{where}: a parameter group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{where}: a parameter group must have a 'params' entry (the list of Parameters)")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Parameter):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{where}: 'params' should be an ordered collection (list), but got a set")
        params = list(params)
        if len(params) == 0:
            raise ValueError(f"{where}: the group's 'params' is empty (expected at least one Parameter)")

        names = [p[0] for p in params if isinstance(p, tuple)]
        if names:
            if len(names) != len(params):
                raise ValueError(f"{where}: either all or none of the parameters should come with a name")
            params = [p[1] for p in params]
            group["param_names"] = names
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"{where}: optimizer can only optimize Parameters, but params[{i}] is a {type(p).__name__}"
                )
            if p.data.dtype.kind != "f":
                raise TypeError(f"{where}: params[{i}] has dtype {p.data.dtype} (expected float32 or float64)")
        group["params"] = params

        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_hyperparameters(group, where)

        seen = {id(p) for p in params}
        if len(seen) != len(params):
            raise ValueError(f"{where}: a parameter appears more than once in the group (expected each once)")
        for j, other in enumerate(self.param_groups):
            if any(id(p) in seen for p in other["params"]):
                raise ValueError(
                    f"{where}: some parameters appear in more than one parameter group "
                    f"(also in param_groups[{j}]); expected each parameter in exactly one group"
                )
        if ("param_names" in group) != any("param_names" in g for g in self.param_groups) and self.param_groups:
            raise ValueError(f"{where}: either all or none of the parameter groups should have parameter names")
        self.param_groups.append(group)

    # -- the update ------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter.

        Parameters
        ----------
        set_to_none : bool, default True
            If True, ``p.grad = None`` (the next backward allocates it again, and ``step`` skips a
            parameter that received no gradient). If False, ``p.grad`` is filled with zeros in place.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place, by the rule of the subclass.

        Parameters
        ----------
        closure : callable, optional
            Called first (with no arguments) to recompute the loss and gradients; its result is
            returned.

        Returns
        -------
        The closure's result, or None.
        """
        loss = closure() if closure is not None else None
        for index, group in enumerate(self.param_groups):
            for i, p in enumerate(group["params"]):
                if p.grad is None or not p.requires_grad:
                    continue
                grad = p.grad
                if grad.shape != p.data.shape:
                    raise ValueError(
                        f"{self._name()}: param_groups[{index}]['params'][{i}] has grad of shape {grad.shape}, "
                        f"expected the parameter's shape {p.data.shape}"
                    )
                if grad.dtype != p.data.dtype:
                    raise TypeError(
                        f"{self._name()}: param_groups[{index}]['params'][{i}] has grad of dtype {grad.dtype}, "
                        f"expected the parameter's dtype {p.data.dtype}"
                    )
                self._update(p, grad, self.state[p], group)
        return loss

    def _update(self, param: Parameter, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Update one parameter in place from its gradient, its state and its group's hyper-parameters."""
        raise NotImplementedError(f"{self._name()} does not implement _update")

    # -- state dicts -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Return the optimiser's state in torch's layout, as a snapshot (arrays are copies).

        Returns
        -------
        dict
            ``{'state': {index: {'step': int, 'exp_avg': ndarray, ...}},
            'param_groups': [{'lr': ..., ..., 'params': [index, ...]}]}``, where ``index`` numbers the
            parameters in group order. Only ndarrays, Python numbers/bools/strings, lists and dicts
            (tuples become lists), so it can be saved without pickle (see ``flat_state_dict``).
        """
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: _plain(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                s = self.state.get(p)
                if s:
                    state[index_of[id(p)]] = {k: _plain(v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state from ``state_dict()`` (ours, or torch's with tensors turned into ndarrays).

        Parameters are matched by position: the i-th parameter of the saved groups gets the state of
        the i-th parameter of this optimiser's groups. Hyper-parameters are taken from the saved
        groups. Arrays are copied and cast to the parameter's dtype.

        Raises
        ------
        ValueError
            If the number of groups or of parameters in a group differs, or a buffer's shape does not
            match its parameter.
        """
        name = self._name()
        if not isinstance(state_dict, Mapping) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' entries")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: loaded state dict has {len(saved_groups)} parameter groups, "
                f"expected {len(self.param_groups)}"
            )
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: loaded param_groups[{i}] has {len(saved['params'])} parameters, "
                    f"expected {len(group['params'])}"
                )
        param_of = {
            _as_index(saved_id): p
            for saved, group in zip(saved_groups, self.param_groups)
            for saved_id, p in zip(saved["params"], group["params"])
        }
        new_state: defaultdict[Parameter, dict[str, Any]] = defaultdict(dict)
        for key, buffers in state_dict["state"].items():
            key = _as_index(key)
            if key not in param_of:
                raise ValueError(f"{name}.load_state_dict: state for parameter {key!r} names no parameter of any group")
            p = param_of[key]
            new_state[p] = {k: self._load_value(k, v, p, key) for k, v in buffers.items()}

        new_groups = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            new_group = {k: _restore(v, self.defaults.get(k)) for k, v in saved.items() if k != "params"}
            for k, default in self.defaults.items():  # a state dict from before a hyper-parameter existed
                new_group.setdefault(k, default)
            new_group["params"] = group["params"]
            self._check_hyperparameters(new_group, f"{name}.load_state_dict param_groups[{i}]")
            new_groups.append(new_group)
        self.state = new_state
        self.param_groups = new_groups

    def _load_value(self, key: str, value: Any, p: Parameter, index: int) -> Any:
        if key == "step":  # a count (torch keeps it in a float tensor); always a Python int here
            step = float(np.asarray(value))
            if step != int(step) or step < 0:
                raise ValueError(
                    f"{self._name()}.load_state_dict: state[{index}]['step'] = {step} (expected a count >= 0)"
                )
            return int(step)
        if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
            arr = np.asarray(value)
            if arr.shape != p.data.shape:
                raise ValueError(
                    f"{self._name()}.load_state_dict: state[{index}][{key!r}] has shape {arr.shape}, "
                    f"expected the parameter's shape {p.data.shape}"
                )
            dtype = p.data.dtype if arr.dtype.kind == "f" else arr.dtype
            return np.array(arr, dtype=dtype, copy=True, order="C")
        return _plain(value)

    def flat_state_dict(self) -> dict[str, np.ndarray]:
        """``state_dict()`` flattened to ``{str: ndarray}`` (see ``flatten_state``), ready for ``np.savez``."""
        return flatten_state(self.state_dict())

    def load_flat_state_dict(self, flat: Mapping[str, np.ndarray]) -> None:
        """Load what ``flat_state_dict()`` returned (e.g. read back with ``np.load(allow_pickle=False)``)."""
        self.load_state_dict(unflatten_state(flat))

    def __repr__(self) -> str:
        lines = [f"{self._name()} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# -- small helpers ---------------------------------------------------------------------------------
def _check_real(value: Any, arg: str, where: str) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {arg} should be a real number, but got {value!r} ({type(value).__name__})")


def _check_range(hp: Mapping[str, Any], key: str, where: str, label: str | None = None,
                 upper: int | None = None) -> None:
    """``hp[key]`` must be a real number in [0, upper] (no upper bound when None); the error names it as torch's
    does ("invalid epsilon value: ...") with the range expected."""
    value = hp[key]
    _check_real(value, key, where)
    if not (0.0 <= value and (upper is None or value <= upper)):
        expected = f"{key} >= 0" if upper is None else f"0 <= {key} <= {upper}"
        raise ValueError(f"{where}: invalid {label or key + ' value'}: {value} (expected {expected})")


def count_step(state: dict[str, Any], p: np.ndarray, *keys: str) -> int:
    """Count one more step in a parameter's ``state``, creating its buffers ``keys`` (zeros like ``p``) at the
    first; returns the step number."""
    if not state:
        state["step"] = 0
        for key in keys:
            state[key] = np.zeros_like(p)
    state["step"] += 1
    return state["step"]


def _check_bool(value: Any, arg: str, where: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {arg} should be a bool, but got {value!r} ({type(value).__name__})")


def _as_index(key: Any) -> int:
    """State-dict parameter ids are ints; accept their string form too (as JSON would write them)."""
    return int(key)


def _plain(value: Any) -> Any:
    """Copy a state value into plain types: arrays are copied, numpy scalars become Python ones,
    tuples become lists."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _restore(value: Any, default: Any) -> Any:
    """Undo ``_plain`` for a hyper-parameter: a list becomes a tuple where the default is a tuple (betas)."""
    value = _plain(value)
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    return value


# -- flattening to {str: ndarray} ------------------------------------------------------------------
#: The key under which ``flatten_state`` stores the JSON description of the structure.
STRUCTURE_KEY = "__structure__"


def flatten_state(obj: Any) -> dict[str, np.ndarray]:
    """Flatten a nested state (dicts, lists, tuples, numbers, bools, strings, None, ndarrays) into
    ``{str: ndarray}``, which ``np.savez`` writes and ``np.load(..., allow_pickle=False)`` reads.

    Each array is stored under its path, e.g. ``'state/0/exp_avg'``; everything else (the nesting,
    numbers, strings) goes into one JSON string stored as a 0-d unicode array under
    ``STRUCTURE_KEY``. Floats survive exactly (JSON writes Python's shortest round-trip repr).

    Parameters
    ----------
    obj : nested state
        Dict keys must be str or int. Arrays must not have dtype object.

    Returns
    -------
    dict of str to ndarray
        The arrays are not copied.

    Raises
    ------
    TypeError
        For a value of another type (named by its path).
    """
    flat: dict[str, np.ndarray] = {}

    def encode(value: Any, path: tuple[str, ...]) -> Any:
        where = "/".join(path) or "<root>"
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise TypeError(f"flatten_state: array at {where!r} has dtype object (cannot be saved without pickle)")
            key = "/".join(path)
            if key in flat or key == STRUCTURE_KEY or not key:
                raise ValueError(f"flatten_state: two entries map to the same key {key!r}")
            flat[key] = value
            return {"__ndarray__": key}
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, tuple):
            return {"__tuple__": [encode(v, path + (str(i),)) for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [encode(v, path + (str(i),)) for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            for k in value:
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise TypeError(f"flatten_state: dict at {where!r} has key {k!r} (expected str or int keys)")
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: encode(v, path + (k,)) for k, v in value.items()}
            return {"__dict__": [[k, encode(v, path + (str(k),))] for k, v in value.items()]}
        raise TypeError(
            f"flatten_state: value at {where!r} is a {type(value).__name__} "
            "(expected ndarray, number, bool, str, None, list, tuple or dict)"
        )

    structure = encode(obj, ())
    flat[STRUCTURE_KEY] = np.array(json.dumps(structure))
    return flat


def unflatten_state(flat: Mapping[str, np.ndarray]) -> Any:
    """Rebuild the nested state that ``flatten_state`` flattened (arrays are not copied).

    Raises
    ------
    KeyError
        If ``STRUCTURE_KEY`` or an array the structure refers to is missing.
    """
    if STRUCTURE_KEY not in flat:
        raise KeyError(f"unflatten_state: no {STRUCTURE_KEY!r} entry (expected the output of flatten_state)")
    structure = json.loads(str(np.asarray(flat[STRUCTURE_KEY])[()]))

    def decode(node: Any) -> Any:
        if isinstance(node, list):
            return [decode(v) for v in node]
        if isinstance(node, dict):
            if set(node) == {"__ndarray__"}:
                key = node["__ndarray__"]
                if key not in flat:
                    raise KeyError(f"unflatten_state: the structure refers to array {key!r}, which is missing")
                return np.asarray(flat[key])
            if set(node) == {"__tuple__"}:
                return tuple(decode(v) for v in node["__tuple__"])
            if set(node) == {"__dict__"}:
                return {k: decode(v) for k, v in node["__dict__"]}
            return {k: decode(v) for k, v in node.items()}
        return node

    return decode(structure)



def update_flat(p: np.ndarray, grad: np.ndarray, state: dict[str, Any], keys: Iterable[str], kernel, *args) -> None:
    """Run an optimiser's update kernel on flat views: ``kernel(p, grad, *buffers, *args)``, every array 1-D.

    The state buffers named by ``keys`` are made C-contiguous arrays of ``p``'s dtype first (a state loaded from
    elsewhere may be neither) and passed in that order (a key may repeat); ``grad`` is only read. A parameter that
    is not C-contiguous is updated in a contiguous copy, written back into it afterwards.
    """
    for key in dict.fromkeys(keys):
        if not (state[key].flags.c_contiguous and state[key].dtype == p.dtype):
            state[key] = np.ascontiguousarray(state[key], dtype=p.dtype)
    flat = p if p.flags.c_contiguous else np.ascontiguousarray(p)
    kernel(flat.reshape(-1), np.ascontiguousarray(grad, dtype=p.dtype).reshape(-1),
           *(state[key].reshape(-1) for key in keys), *args)
    if flat is not p:
        p[...] = flat
