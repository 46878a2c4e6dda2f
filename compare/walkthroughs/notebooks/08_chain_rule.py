# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The chain rule on a scalar computational graph
#
# Before any layer: a handful of numbers joined by +, ×, max and a copy. Reverse-mode differentiation
# (backprop) walks the graph from the output back to the inputs, and each kind of node does one simple
# thing with the gradient it receives: **add distributes** it, **multiply swaps** the inputs, **max
# routes** it to the winner, and a value **copied** into two places **sums** the gradients that come back.
# Then a reverse-mode engine of a few dozen lines does the same automatically, checked against torch autograd.

# %%
import math

import numpy as np
from matplotlib.figure import Figure

from compare.walkthroughs._report import Report, fmt, optional_torch

report = Report("chain_rule", "The chain rule on a scalar computational graph")
torch = optional_torch()

# %% [markdown]
# ## Four gates, by hand
#
# f(x, y, z) = (x + y) · max(y, z) · x with x = 2, y = -1, z = 3. Forward left to right, then the
# gradient of f with respect to every intermediate value, right to left.

# %%
report.section("Four gates by hand: add distributes, multiply swaps, max routes, a copy sums")
x, y, z = 2.0, -1.0, 3.0
a = x + y  # add
m = max(y, z)  # max
b = a * m  # multiply
f = b * x  # multiply again: x is used twice (a copy)
report.text(
    f"""
    Take f(x, y, z) = (x + y) · max(y, z) · x at x = {x:g}, y = {y:g}, z = {z:g}, computed in four steps:
    a = x + y = {a:g}, m = max(y, z) = {m:g}, b = a · m = {b:g}, f = b · x = **{f:g}**.

    Backward starts with df/df = 1 and visits the nodes in reverse. Each node receives the gradient of f
    with respect to its *output* (the upstream gradient g) and hands each input g times the local
    derivative of the node — the chain rule, one node at a time:
    """
)
report.math(r"\frac{\partial f}{\partial \text{input}} = \frac{\partial f}{\partial \text{output}} \cdot \frac{\partial\, \text{output}}{\partial\, \text{input}}")
df_db = x  # f = b·x: multiply swaps — b gets x
df_dx_direct = b  # ... and x gets b
df_da = df_db * m  # b = a·m: a gets m
df_dm = df_db * a  # ... and m gets a
df_dy_via_max = df_dm * (1.0 if y > z else 0.0)  # max routes: only the winner gets the gradient
df_dz = df_dm * (1.0 if z >= y else 0.0)
df_dx_via_add = df_da * 1.0  # add distributes: both inputs get the upstream gradient unchanged
df_dy_via_add = df_da * 1.0
df_dx = df_dx_direct + df_dx_via_add  # x was used twice: a copy sums the gradients that come back
df_dy = df_dy_via_add + df_dy_via_max  # y too (in the add and in the max)
report.table(
    ["node", "forward", "upstream g = df/d(output)", "rule", "what each input receives"],
    [
        ["f = b · x", f"{f:g}", "1", "multiply swaps", f"b gets x·g = {df_db:g}; x gets b·g = {df_dx_direct:g}"],
        ["b = a · m", f"{b:g}", f"{df_db:g}", "multiply swaps", f"a gets m·g = {df_da:g}; m gets a·g = {df_dm:g}"],
        ["m = max(y, z)", f"{m:g}", f"{df_dm:g}", "max routes", f"z (the winner) gets g = {df_dz:g}; y gets 0"],
        ["a = x + y", f"{a:g}", f"{df_da:g}", "add distributes", f"x and y each get g = {df_da:g}"],
        ["x (used twice)", f"{x:g}", "—", "a copy sums", f"{df_dx_direct:g} + {df_dx_via_add:g} = **{df_dx:g}**"],
        ["y (used twice)", f"{y:g}", "—", "a copy sums", f"{df_dy_via_add:g} + {df_dy_via_max:g} = **{df_dy:g}**"],
    ],
)
report.text(
    f"""
    So ∇f = (df/dx, df/dy, df/dz) = ({df_dx:g}, {df_dy:g}, {df_dz:g}). Written out symbolically,
    f = (x + y)·z·x when z > y, so df/dx = z(2x + y) = {z * (2 * x + y):g}, df/dy = z·x = {z * x:g},
    df/dz = (x + y)·x = {(x + y) * x:g}: the same numbers, without ever writing the whole expression down.
    """
)
report.claim(df_dx == z * (2 * x + y) and df_dy == z * x and df_dz == (x + y) * x,
             "the gate rules give the symbolic derivative of (x + y)·z·x exactly")
report.claim(df_dy_via_max == 0.0, "max routes: the loser y receives exactly 0 from the max node")
report.claim(df_dx_via_add == df_dy_via_add == df_da, "add distributes: both inputs of a + b receive the upstream gradient unchanged")

h = 1e-6
f_of = lambda x_, y_, z_: (x_ + y_) * max(y_, z_) * x_
numeric = [(f_of(x + h, y, z) - f_of(x - h, y, z)) / (2 * h), (f_of(x, y + h, z) - f_of(x, y - h, z)) / (2 * h),
           (f_of(x, y, z + h) - f_of(x, y, z - h)) / (2 * h)]
report.parity("∇f", [df_dx, df_dy, df_dz], numeric, 1e-8, ("gate rules", "centred differences"))

# %% [markdown]
# ## A reverse-mode engine in a few dozen lines
#
# Each `Value` remembers its inputs and a small function that pushes its gradient to them. `backward()`
# sorts the graph so that every node comes after everything it feeds, then runs those functions in reverse.

# %%
report.section("A reverse-mode engine: the same rules, automatically")


class Value:
    """A scalar that remembers how it was computed, so that backward() can apply the chain rule."""

    def __init__(self, data, parents=(), op=""):
        self.data, self.grad = float(data), 0.0
        self.parents, self.op = parents, op
        self._backward = lambda: None  # pushes self.grad to the parents

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():  # add distributes
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():  # multiply swaps
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def max(self, other):
        out = Value(max(self.data, other.data), (self, other), "max")

        def _backward():  # max routes (ties: to the first, as torch's max-pool does)
            winner = self if self.data >= other.data else other
            winner.grad += out.grad

        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():  # d exp(u) = exp(u) du
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def reciprocal(self):
        out = Value(1.0 / self.data, (self,), "1/")

        def _backward():  # d(1/u) = -du / u²
            self.grad += -out.grad / self.data**2

        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def backward(self):
        order, seen = [], set()

        def visit(v):  # depth-first: a node is appended after all of its parents
            if id(v) not in seen:
                seen.add(id(v))
                for p in v.parents:
                    visit(p)
                order.append(v)

        visit(self)
        for v in order:
            v.grad = 0.0  # so that backward() can be called again (a re-run cell) without accumulating
        self.grad = 1.0
        for v in reversed(order):  # every node's gradient is complete before it is pushed further
            v._backward()


X, Y, Z = Value(x), Value(y), Value(z)
F = (X + Y) * Y.max(Z) * X
F.backward()
report.text(
    f"""
    `Value` (defined in the cell above, {len([k for k in vars(Value) if not k.startswith('__')])} methods) records,
    for every result, its inputs and a closure that adds the node's local derivative times the upstream
    gradient into each input's `.grad`. The `+=` is the "copy sums" rule: a value used twice receives two
    contributions. `backward()` orders the nodes topologically (a node after all of its inputs) and runs the
    closures from the output back. On the same f: value {F.data:g}, gradients
    x {X.grad:g}, y {Y.grad:g}, z {Z.grad:g}.
    """
)
report.check_close("∇f", [X.grad, Y.grad, Z.grad], [df_dx, df_dy, df_dz], 0.0, ("engine", "gate rules by hand"))

# a neuron: sigmoid(w·x + b), built from +, ×, exp and 1/u only
w_in = [Value(v) for v in (0.5, -1.5, 2.0)]
x_in = [Value(v) for v in (1.0, 0.3, -0.4)]
bias = Value(0.1)
pre = sum((wi * xi for wi, xi in zip(w_in, x_in)), bias)
sig = ((-pre).exp() + 1.0).reciprocal()
sig.backward()
s_val = sig.data
report.text(
    f"""
    A neuron, σ(w·x + b) with σ(u) = 1 / (1 + e^(-u)), built only from +, ×, exp and 1/u: the engine knows
    nothing about sigmoids, yet its gradient with respect to the pre-activation is
    {fmt(pre.grad)}, which is σ(u)(1 - σ(u)) = {fmt(s_val * (1 - s_val))} — the derivative every textbook
    states, recovered by the chain rule through four elementary nodes.
    """
)
report.claim(abs(pre.grad - s_val * (1 - s_val)) < 1e-15, "the engine's dσ/du equals σ(1 - σ)",
             f"{pre.grad:.6f} vs {s_val * (1 - s_val):.6f}")
report.claim(all(abs(wi.grad - pre.grad * xi.data) < 1e-15 for wi, xi in zip(w_in, x_in)),
             "each weight's gradient is the upstream gradient times its input (multiply swaps)")

if torch is None:
    report.note_skip("torch autograd comparison (torch is not installed)")
else:
    tx, ty, tz = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, y, z))
    tf = (tx + ty) * torch.maximum(ty, tz) * tx
    tf.backward()
    report.parity("f", F.data, tf.item(), 0.0, ("engine", "torch"))
    report.parity("∇f", [X.grad, Y.grad, Z.grad], [tx.grad.item(), ty.grad.item(), tz.grad.item()], 0.0,
                  ("engine", "torch autograd"))
    tw = torch.tensor([wi.data for wi in w_in], dtype=torch.float64, requires_grad=True)
    txi = torch.tensor([xi.data for xi in x_in], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(bias.data, dtype=torch.float64, requires_grad=True)
    ts = torch.sigmoid(tw @ txi + tb)
    ts.backward()
    report.parity("σ(w·x + b)", s_val, ts.item(), 1e-15, ("engine", "torch"))
    report.parity("dσ/dw", [wi.grad for wi in w_in], tw.grad.numpy(), 1e-15, ("engine", "torch autograd"))
    report.parity("dσ/dx", [xi.grad for xi in x_in], txi.grad.numpy(), 1e-15, ("engine", "torch autograd"))
    report.parity("dσ/db", bias.grad, tb.grad.item(), 1e-15, ("engine", "torch autograd"))
    report.text("torch autograd, in float64, gives the same values and gradients (appendix).")

# %% [markdown]
# ## The graph, drawn

# %%
report.section("The graph with its values and gradients")
nodes = {  # name: (x position, y position, value, gradient)
    "x": (0, 2, X.data, X.grad), "y": (0, 1, Y.data, Y.grad), "z": (0, 0, Z.data, Z.grad),
    "a = x + y": (1.3, 1.6, a, df_da), "m = max(y, z)": (1.3, 0.4, m, df_dm),
    "b = a · m": (2.6, 1.0, b, df_db), "f = b · x": (3.9, 1.6, f, 1.0),
}
edges = [("x", "a = x + y"), ("y", "a = x + y"), ("y", "m = max(y, z)"), ("z", "m = max(y, z)"),
         ("a = x + y", "b = a · m"), ("m = max(y, z)", "b = a · m"), ("b = a · m", "f = b · x"), ("x", "f = b · x")]
fig = Figure(figsize=(10, 4.2))
ax = fig.subplots()
for src, dst in edges:
    (x0, y0, *_), (x1, y1, *_) = nodes[src], nodes[dst]
    ax.annotate("", xy=(x1 - 0.35, y1), xytext=(x0 + 0.35, y0), arrowprops=dict(arrowstyle="->", color="gray"))
for name, (px, py, val, grad) in nodes.items():
    ax.text(px, py, f"{name}\nvalue {val:g}\ngrad {grad:g}", ha="center", va="center", fontsize=9,
            bbox=dict(boxstyle="round", fc="#e8f0fe" if "=" in name else "#fff3cd", ec="gray"))
ax.text(0.45, 1.3, f"y: {df_dy_via_add:g} (add) + {df_dy_via_max:g} (max) = {df_dy:g}", fontsize=8, color="tab:red")
ax.text(1.6, 2.2, f"x: {df_dx_via_add:g} (add) + {df_dx_direct:g} (multiply) = {df_dx:g}", fontsize=8, color="tab:red")
ax.set_xlim(-0.6, 4.5)
ax.set_ylim(-0.5, 2.5)
ax.axis("off")
fig.suptitle("f = (x + y) · max(y, z) · x: values flow right, gradients flow left")
report.figure(fig, "graph", "The computational graph of f with each node's value and the gradient of f with respect to it.")
report.claim((X.grad, Y.grad, Z.grad) == (9.0, 6.0, 2.0), "∇f = (9, 6, 2): the copies of x and y summed their two contributions",
             f"x {X.grad:g}, y {Y.grad:g}, z {Z.grad:g}")

# %%
report_path = report.finish()  # the markdown report; its figures are beside it
