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
# # Gradient checking: finite differences, step sizes, float32, and kinks
#
# A hand-written backward pass is checked against finite differences. This walkthrough looks at the
# checker itself: why centred differences, how to compare two gradients (relative error), why the step
# size ε has a sweet spot that float32 puts out of reach, why the upstream gradient must be random, and
# what goes wrong at a ReLU kink.

# %%
import numpy as np
from matplotlib.figure import Figure

from scratchnet import nn, ops
from scratchnet.gradcheck import (
    check_module,
    kink_margin,
    numerical_gradient,
    rel_error,
    rel_error_elementwise,
)
from compare.walkthroughs._report import Report, fmt, optional_torch

report = Report("gradient_checking", "Gradient checking: finite differences, step sizes, float32, and kinks")
torch = optional_torch()
rng = np.random.default_rng(0)

# %% [markdown]
# ## One-sided and centred differences
#
# Taylor: $f(x \pm \epsilon) = f(x) \pm \epsilon f'(x) + \tfrac{\epsilon^2}{2} f''(x) \pm \tfrac{\epsilon^3}{6} f'''(x) + \dots$
#
# One-sided: $\frac{f(x+\epsilon) - f(x)}{\epsilon} = f' + \tfrac{\epsilon}{2} f'' + \dots$, error $O(\epsilon)$.
# Centred: $\frac{f(x+\epsilon) - f(x-\epsilon)}{2\epsilon} = f' + \tfrac{\epsilon^2}{6} f''' + \dots$, error $O(\epsilon^2)$.

# %%
report.section("Two difference quotients, two truncation errors")
report.text(
    """
    The derivative is the limit of a difference quotient; a gradient check evaluates one with a small
    but finite step ε. Expanding f around x with Taylor's formula,
    """
)
report.math(
    r"""
\frac{f(x+\epsilon) - f(x)}{\epsilon} = f'(x) + \frac{\epsilon}{2} f''(x) + O(\epsilon^2),\qquad
\frac{f(x+\epsilon) - f(x-\epsilon)}{2\epsilon} = f'(x) + \frac{\epsilon^2}{6} f'''(x) + O(\epsilon^4)
"""
)
report.text(
    """
    In the centred quotient the even terms cancel, so its *truncation error* shrinks like ε² instead of ε:
    ten times smaller ε, a hundred times smaller error. But the computer evaluates f with a relative
    rounding error of about u (u ≈ 1.1e-16 in float64, 6.0e-8 in float32), and dividing the difference
    of two such values by ε turns it into a *round-off error* of about u·|f|/ε, which *grows* as ε
    shrinks. The total error is smallest where the two meet: near ε ~ u^(1/3) for the centred quotient,
    ε ~ u^(1/2) for the one-sided one.
    """
)

# The test function: softmax cross-entropy of a small linear layer, as a function of its weights,
# along one random direction D: phi(t) = L(W + t D). Its exact derivative at 0 is <dL/dW, D>.
N, Din, K = 4, 5, 3
x = rng.normal(size=(N, Din))
W = rng.normal(size=(K, Din))
b = rng.normal(size=K)
y = np.array([0, 2, 1, 2])
D = rng.normal(size=W.shape)
_, lin_cache = ops.linear_forward(x, W, b)
_, dz = ops.softmax_cross_entropy(x @ W.T + b, y)
dW = ops.linear_backward(dz, lin_cache)[1]
exact = float(np.sum(dW * D))


def phi(t: float, dtype) -> float:
    """L(W + t D), computed entirely in ``dtype``."""
    xs, Ws, bs, Ds = (a.astype(dtype) for a in (x, W, b, D))
    Wt = Ws + dtype(t) * Ds
    return float(ops.softmax_cross_entropy(xs @ Wt.T + bs, y)[0])


eps_grid = np.logspace(-12, 0, 49)
errors = {}
for dtype in (np.float32, np.float64):
    f0 = phi(0.0, dtype)
    centred = np.array([(phi(e, dtype) - phi(-e, dtype)) / (2 * e) for e in eps_grid])
    forward = np.array([(phi(e, dtype) - f0) / e for e in eps_grid])
    errors[dtype.__name__, "centred"] = np.abs(centred - exact) / abs(exact)
    errors[dtype.__name__, "one-sided"] = np.abs(forward - exact) / abs(exact)

report.text(
    f"""
    The test function is a real loss: φ(t) = L(W + tD), the softmax cross-entropy of a small linear layer
    (N = {N}, {Din} features, {K} classes) as its weights move along a random direction D. Backprop gives
    the exact slope φ'(0) = ⟨dL/dW, D⟩ = {exact:.12f}. We sweep ε from 1e-12 to 1 with φ evaluated
    entirely in float32 and entirely in float64, and plot the relative error of each quotient.
    """
)
i = {e: int(np.argmin(np.abs(np.log10(eps_grid) - np.log10(e)))) for e in (1e-1, 1e-2, 1e-5, 1e-7)}
rows = []
for key, err in errors.items():
    best = int(np.argmin(err))
    rows.append([f"{key[0]}, {key[1]}", f"{err[i[1e-7]]:.1e}", f"{err[i[1e-5]]:.1e}", f"{err[i[1e-2]]:.1e}",
                 f"{eps_grid[best]:.0e}", f"{err[best]:.1e}"])
report.table(["dtype, quotient", "error at ε=1e-7", "at ε=1e-5", "at ε=1e-2", "best ε", "best error"], rows)
f32c, f64c, f64f = errors["float32", "centred"], errors["float64", "centred"], errors["float64", "one-sided"]
report.text(
    f"""
    Read the table with CS231n's scale in mind (relative error < 1e-7 good, > 1e-2 wrong):

    - **float64, centred**: with the usual ε = 1e-5 the error is {f64c[i[1e-5]]:.0e} — a correct gradient
      passes with a wide margin.
    - **float32 with a tiny ε fails**: at ε = 1e-7 the error is {f32c[i[1e-7]]:.0e}. W + εD rounds W to float32's
      ~7 significant digits, so most of the step is lost, and the few changed bits of φ are divided by
      a tiny ε. A correct gradient *looks wrong*.
    - Even at its best ε (about {eps_grid[int(np.argmin(f32c))]:.0e}) float32 only reaches {f32c.min():.0e}: a
      float32 check can never tell "correct" from "slightly wrong" at the 1e-7 level. That is why
      `check_module` insists on float64 (and torch users call `gradcheck` on double tensors).
    - In the truncation regime, ε 1e-1 → 1e-2 divides the centred error by {f64c[i[1e-1]] / f64c[i[1e-2]]:.0f}
      (ε²) and the one-sided error by {f64f[i[1e-1]] / f64f[i[1e-2]]:.0f} (ε).
    """
)
report.claim(f64c[i[1e-5]] < 1e-8, "float64, centred, ε = 1e-5: relative error < 1e-8", f"{f64c[i[1e-5]]:.1e}")
report.claim(f32c[i[1e-7]] > 1e-2, "float32, centred, ε = 1e-7: relative error > 1e-2 (the check 'fails')", f"{f32c[i[1e-7]]:.1e}")
report.claim(f32c.min() > 100 * f64c.min(), "the best float32 error is over 100 times the best float64 error",
             f"{f32c.min():.1e} vs {f64c.min():.1e}")
report.claim(30 < f64c[i[1e-1]] / f64c[i[1e-2]] < 300, "centred truncation error scales like ε² (÷30 to ÷300 per decade)")
report.claim(3 < f64f[i[1e-1]] / f64f[i[1e-2]] < 30, "one-sided truncation error scales like ε (÷3 to ÷30 per decade)")
report.claim(1e-7 <= eps_grid[int(np.argmin(f64c))] <= 1e-3 and 1e-4 <= eps_grid[int(np.argmin(f32c))] <= 1e-1,
             "the best ε is near u^(1/3): about 1e-5 in float64, about 1e-2.5 in float32",
             f"{eps_grid[int(np.argmin(f64c))]:.0e} and {eps_grid[int(np.argmin(f32c))]:.0e}")

fig = Figure(figsize=(8.5, 5.5))
ax = fig.subplots()
styles = {("float64", "centred"): ("tab:blue", "-"), ("float64", "one-sided"): ("tab:blue", "--"),
          ("float32", "centred"): ("tab:red", "-"), ("float32", "one-sided"): ("tab:red", "--")}
for key, err in errors.items():
    colour, ls = styles[key]
    ax.loglog(eps_grid, np.maximum(err, 1e-13), ls, color=colour, marker=".", label=f"{key[0]}, {key[1]}")
ax.axhline(1e-7, color="gray", lw=0.8, ls=":")
ax.text(1.5e-12, 1.5e-7, "1e-7: 'good' (CS231n)", fontsize=8, color="gray")
ax.axvline(1e-5, color="gray", lw=0.8, ls=":")
ax.text(1.2e-5, 3e-13, "ε = 1e-5", fontsize=8, color="gray")
e = np.logspace(-4, 0, 5)
ax.loglog(e, 0.3 * f64c[-1] * e**2, color="black", lw=0.8, alpha=0.6)
ax.text(1e-3, 0.3 * f64c[-1] * 1e-6 * 4, "slope 2 (ε²)", fontsize=8)
ax.set_xlabel("step ε")
ax.set_ylabel("relative error of the difference quotient")
ax.set_ylim(1e-13, 30)
ax.set_title("Finite-difference error vs step size: truncation (right) meets round-off (left)", fontsize=10)
ax.legend(fontsize=9, loc="lower left")
ax.grid(True, which="major", alpha=0.3)
report.figure(fig, "eps_sweep", "Relative error of one-sided and centred differences against the exact derivative, in float32 and float64.")

# %% [markdown]
# ## Comparing two gradients: the relative error

# %%
report.section("Comparing whole gradients: relative error")
numeric = numerical_gradient(lambda: ops.softmax_cross_entropy(x @ W.T + b, y)[0], W, eps=1e-5)
wrong_scale = dW * N  # forgot the 1/N of the mean
one_entry = dW.copy()
one_entry[1, 2] *= 1.01  # one entry off by 1%
transposed_bug = (dz.T @ x)[::-1]  # rows in the wrong order
report.text(
    """
    A gradient is an array, so we need one number for "how different are these two arrays". An absolute
    difference means nothing without a scale (1e-6 is huge for a gradient of size 1e-7), so we divide by
    the sizes: `scratchnet.gradcheck.rel_error(a, n) = ‖a - n‖ / (‖a‖ + ‖n‖)`. CS231n's element-wise
    version max |a - n| / (|a| + |n|) is stricter, but an entry that is exactly 0 in backprop (a dead
    ReLU, a max-pool loser) and 1e-12 of round-off in the difference quotient scores 1.0 there; the
    norm-wise form is not fooled. The CS231n scale: < 1e-7 good; 1e-4 acceptable only near kinks; > 1e-2
    wrong. Here the backprop dW of the test function, and three deliberately broken versions, against
    centred differences (float64, ε = 1e-5):
    """
)
cases = [("correct backprop", dW), ("one entry 1% too large", one_entry), ("forgot the 1/N of the mean", wrong_scale),
         ("rows in the wrong order", transposed_bug)]
rows = [[label, f"{rel_error(g_, numeric):.1e}", f"{rel_error_elementwise(g_, numeric):.1e}"] for label, g_ in cases]
report.table(["gradient", "rel_error (norm-wise)", "element-wise max"], rows)
report.claim(rel_error(dW, numeric) < 1e-7, "the correct gradient scores < 1e-7")
report.claim(all(rel_error(g_, numeric) > 1e-4 for _, g_ in cases[1:]), "every broken gradient scores > 1e-4")
one_bad_normwise, one_bad_elementwise = rel_error(one_entry, numeric), rel_error_elementwise(one_entry, numeric)
big_g = np.random.default_rng(1).normal(size=(300, 300))  # a gradient the size of a small layer's
big_bad = big_g.copy()
big_bad[7, 11] *= 1.01  # the same bug: one entry 1% off
big_normwise, big_elementwise = rel_error(big_bad, big_g), rel_error_elementwise(big_bad, big_g)
report.text(
    f"""
    Look at the second row: the norm-wise error **dilutes one bad entry** — it divides that entry's error
    by the size of the *whole* gradient. With {dW.size} entries the dilution is mild ({one_bad_normwise:.1e}
    norm-wise against {one_bad_elementwise:.1e} for the entry itself), but the same bug in a gradient of
    {big_g.size:,} entries scores {big_normwise:.1e} norm-wise — it would pass a 1e-4 threshold — while the
    element-wise measure still shows {big_elementwise:.1e}. When a norm-wise check passes only narrowly, or
    a bug is suspected, look at the worst entry (`check_close` in these walkthroughs names its index and
    both values).
    """
)
report.claim(big_normwise < 1e-4 < big_elementwise,
             "in a 90,000-entry gradient one entry 1% off scores < 1e-4 norm-wise but > 1e-4 element-wise",
             f"{big_normwise:.1e} vs {big_elementwise:.1e}")

# %% [markdown]
# ## Why the upstream gradient must be random

# %%
report.section("Why check with a random upstream gradient, not ones")


class Softmax(nn.Module):
    """Row-wise softmax; ``wrong=True`` uses a plausible but wrong backward (mean instead of weighted sum)."""

    def __init__(self, wrong: bool = False) -> None:
        super().__init__()
        self.wrong = wrong

    def forward(self, z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        s = e / e.sum(axis=1, keepdims=True)
        self._save_cache(s)
        return s

    def backward(self, g):
        s = self._pop_cache()
        if self.wrong:
            return s * (g - g.mean(axis=1, keepdims=True))
        return s * (g - np.sum(g * s, axis=1, keepdims=True))  # the Jacobian of softmax applied to g


def worst_abs_difference_with_ones(module: nn.Module, z: np.ndarray) -> float:
    """max |backprop - centred differences| for the upstream gradient G = ones (an absolute difference:
    here both are 0 up to round-off, and a relative error of two round-off numbers means nothing)."""
    z = z.copy()
    module(z)
    analytic = module.backward(np.ones_like(z))
    numeric_ = numerical_gradient(lambda: float(np.sum(module(z))), z, eps=1e-5)
    return float(np.max(np.abs(analytic - numeric_)))


zs = np.random.default_rng(5).normal(size=(3, 4))  # its own generator: re-running the cell gives the same numbers
good_ones = worst_abs_difference_with_ones(Softmax(), zs)
bad_ones = worst_abs_difference_with_ones(Softmax(wrong=True), zs)
good_rand = check_module(Softmax(), zs).max_error
bad_rand = check_module(Softmax(wrong=True), zs).max_error
report.text(
    """
    A module's backward is checked through the scalar s = Σ output × G for some upstream gradient G. The
    tempting choice G = ones checks only the gradient of the *sum* of the outputs. For softmax that sum is
    always 1, its gradient is 0, and **any** backward that returns 0 for G = ones passes — including this
    wrong one, which subtracts the plain mean of g instead of its softmax-weighted mean:
    s·(g - mean(g)) instead of s·(g - Σ g·s). With a random G every output is weighted differently and the
    bug shows:
    """
)
report.table(
    ["backward", "G = ones: max abs difference", "G random (check_module's default): rel_error"],
    [["correct", f"{good_ones:.1e}", f"{good_rand:.1e}"], ["wrong (mean instead of weighted sum)", f"{bad_ones:.1e}", f"{bad_rand:.1e}"]],
)
report.claim(bad_ones < 1e-9, "with G = ones the wrong softmax backward agrees with the centred differences (both are 0 up to round-off)",
             f"max abs difference {bad_ones:.1e}")
report.claim(bad_rand > 1e-2 and good_rand < 1e-7, "with a random G it fails, and the correct one passes",
             f"{bad_rand:.1e} vs {good_rand:.1e}")
if torch is not None:
    tz = torch.tensor(zs, requires_grad=True)
    G = rng.normal(size=zs.shape)
    torch.softmax(tz, dim=1).backward(torch.tensor(G))
    sm = Softmax()
    sm(zs)
    report.parity("softmax backward", sm.backward(G), tz.grad.numpy(), 1e-12, ("s·(g - Σ g·s)", "torch autograd"))
else:
    report.note_skip("softmax backward against torch autograd (torch is not installed)")

# %% [markdown]
# ## Kinks: ReLU at 0

# %%
report.section("At a kink: a difference quotient that straddles 0")
eps = 1e-5
xs = np.linspace(-3e-5, 3e-5, 121)
relu = lambda v: np.maximum(v, 0.0)
centred_relu = (relu(xs + eps) - relu(xs - eps)) / (2 * eps)
analytic_relu = (xs > 0).astype(float)
probe = [-2e-5, -5e-6, 1e-6, 5e-6, 2e-5]
report.text(
    f"""
    relu(x) = max(x, 0) has slope 0 left of 0 and 1 right of it, and no derivative at 0. A centred
    difference with ε = {eps:g} at a point x within ε of 0 evaluates one side on each branch:
    (relu(x+ε) - relu(x-ε)) / (2ε) = (x + ε)/(2ε), a ramp from 0 to 1 across [-ε, ε] instead of a step.
    At x = 1e-6 backprop says 1 and the difference quotient says {fmt((1e-6 + eps) / (2 * eps))}: an O(1)
    error, although *both are doing their job*.
    """
)
report.table(
    ["x", "backprop [x > 0]", "centred difference", "|difference|"],
    [[f"{p:+.0e}", fmt(float(p > 0)), fmt((relu(p + eps) - relu(p - eps)) / (2 * eps)),
      fmt(abs((relu(p + eps) - relu(p - eps)) / (2 * eps) - float(p > 0)))] for p in probe],
)
near = np.abs(xs) < eps
report.claim(abs((relu(1e-6 + eps) - relu(1e-6 - eps)) / (2 * eps) - 1.0) > 0.4, "at x = 1e-6 the centred difference is off by more than 0.4")
report.claim(np.all(np.abs(centred_relu[~near] - analytic_relu[~near]) < 1e-9), "for |x| ≥ ε it is exact")

fig = Figure(figsize=(8, 4))
ax = fig.subplots()
ax.plot(xs, analytic_relu, color="tab:blue", lw=2, label="backprop: [x > 0]", drawstyle="steps-mid")
ax.plot(xs, centred_relu, color="tab:red", lw=1.5, ls="--", label=f"centred difference, ε = {eps:g}")
ax.axvspan(-eps, eps, color="tab:red", alpha=0.08, label="|x| < ε: the quotient straddles the kink")
ax.set_xlabel("x")
ax.set_ylabel("d relu / dx")
ax.set_title("ReLU's derivative near its kink, and what a finite difference sees", fontsize=10)
ax.legend(fontsize=9, loc="upper left")
report.figure(fig, "relu_kink", "Near x = 0 the centred difference of ReLU ramps from 0 to 1 over [-ε, ε]; backprop's derivative is a step.")

# %% [markdown]
# ## A kink inside a network, and how check_module deals with it

# %%
net = nn.Sequential(nn.Linear(6, 8, dtype=np.float64, rng=1), nn.ReLU(), nn.Linear(8, 3, dtype=np.float64, rng=2))
xn = rng.normal(size=(4, 6))
pre = net[0](xn)
net[0].bias.data[5] -= pre[0, 5] - 3e-7  # unit 5 of sample 0 now sits 3e-7 above its kink
object.__setattr__(net[0], "_cache", None)
margin = kink_margin(net, xn)
G = rng.normal(size=(4, 3))
net.zero_grad()
net(xn)
dx_backprop = net.backward(G)
xn_ = xn.copy()
dx_naive = numerical_gradient(lambda: float(np.sum(net(xn_) * G)), xn_, eps=1e-5)
naive_err = rel_error(dx_backprop, dx_naive)
res = check_module(net, xn, upstream=G, eps=1e-5)
report.text(
    f"""
    In a network the same thing happens whenever a step of ±ε moves some ReLU input across 0. Below, a
    Linear(6, 8) → ReLU → Linear(8, 3) net whose bias was nudged so that one hidden unit of one sample
    sits 3e-7 above its kink. `kink_margin` measures that distance: {margin:.1e}, smaller than ε = 1e-5. A
    plain centred-difference check of dL/dx then reports a relative error of {naive_err:.1e} — "wrong" — for a
    backward pass that is correct. `check_module` notices that the ±ε evaluations changed the ReLU mask,
    leaves those entries out ({res.kink_crossings['input']} of the {xn.size} input entries), and scores the
    rest: {res.errors['input']:.1e}.
    """
)
report.code(str(res))
report.claim(margin < 1e-6, "kink_margin finds the planted kink", f"{margin:.1e}")
report.claim(naive_err > 1e-4, "a naive check across the kink reports a large error", f"{naive_err:.1e}")
report.claim(res.kink_crossings["input"] > 0 and res.max_error < 1e-7,
             "check_module skips the steps that cross the kink and the rest pass", f"{res.max_error:.1e}")
report.text(
    """
    The remedies, in order of preference: check at points far from kinks (random inputs, a margin much
    larger than ε — `kink_margin` tells you); skip entries whose steps change the activation pattern, as
    `check_module` does; or use a smaller ε, which float64 allows down to about 1e-7 before round-off
    takes over (see the sweep above).
    """
)

# %%
report_path = report.finish()  # the markdown report; its figures are beside it
