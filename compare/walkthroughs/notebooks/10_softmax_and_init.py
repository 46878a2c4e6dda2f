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
# # Softmax without overflow, and the initialisation variance derived
#
# Two numerical facts every network depends on. Softmax computed as written overflows to `inf/inf = nan`
# for logits a little above 88 in float32 (709 in float64); shifting by the row maximum changes nothing
# mathematically and removes the problem. And the scale of the initial weights decides whether a signal
# survives twenty layers: Var(w) = 2/fan_in for ReLU layers, derived here from the variance of a sum.

# %%
import numpy as np
from matplotlib.figure import Figure

from scratchnet import nn, ops
from compare.walkthroughs._report import Report, fmt, optional_torch

report = Report("softmax_and_init", "Softmax without overflow, and the initialisation variance derived")
torch = optional_torch()

# %% [markdown]
# ## Softmax as written overflows

# %%
report.section("Softmax overflow, and the max shift")


def softmax_naive(z):
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_shifted(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))  # the largest exponent is now exp(0) = 1
    return e / e.sum(axis=-1, keepdims=True)


limit32 = float(np.log(np.finfo(np.float32).max))
limit64 = float(np.log(np.finfo(np.float64).max))
rows = []
cases = {
    "small logits [1, 2, 3]": np.array([1.0, 2.0, 3.0]),
    "large logits [1000, 1001, 1002]": np.array([1000.0, 1001.0, 1002.0]),
    "very negative [-1000, -1001, -1002]": np.array([-1000.0, -1001.0, -1002.0]),
    "float32 [80, 90, 100]": np.array([80.0, 90.0, 100.0], dtype=np.float32),
}
with np.errstate(over="ignore", invalid="ignore", under="ignore"):
    results = {k: (softmax_naive(v), softmax_shifted(v)) for k, v in cases.items()}
for k, (naive_p, shifted_p) in results.items():
    rows.append([k, np.array2string(naive_p, precision=4), np.array2string(shifted_p, precision=4)])
report.text(
    f"""
    exp overflows when its argument passes ln(largest float): **{fmt(limit32, 2)}** in float32 and
    **{fmt(limit64, 2)}** in float64. Logits of a few hundred are not exotic (a confident, badly scaled
    network produces them), and then exp(z) = inf for every class and p = inf/inf = nan. Very negative
    logits fail the other way: every exp(z) underflows to 0 and p = 0/0 = nan. Subtracting the row maximum
    m first changes nothing, because the factor exp(-m) cancels between numerator and denominator:
    """
)
report.math(r"\frac{e^{z_k}}{\sum_j e^{z_j}} = \frac{e^{-m}\,e^{z_k}}{e^{-m}\sum_j e^{z_j}} = \frac{e^{z_k - m}}{\sum_j e^{z_j - m}}, \qquad m = \max_j z_j")
report.text("and afterwards the largest exponent is exp(0) = 1 and the denominator is between 1 and K.")
report.table(["logits", "softmax as written", "softmax with the max shift"], rows)
big = results["large logits [1000, 1001, 1002]"]
small = results["small logits [1, 2, 3]"]
report.claim(np.all(np.isnan(big[0])), "as written, softmax of [1000, 1001, 1002] is nan (inf/inf)")
report.claim(np.all(np.isnan(results["very negative [-1000, -1001, -1002]"][0])), "and of [-1000, -1001, -1002] too (0/0)")
report.claim(np.isnan(results["float32 [80, 90, 100]"][0][2]) and limit32 < 100 < limit64,
             "in float32 a logit of 100 already overflows (ln of float32's max is 88.7): its probability is nan",
             f"p = {results['float32 [80, 90, 100]'][0]}")
report.check_close("softmax of [1000, 1001, 1002]", big[1], small[1], 1e-15, ("shifted", "shifted softmax of [1, 2, 3]"))

report.text(
    """
    The loss needs log p, and log(softmax) loses again: when p underflows to 0 the loss is -log 0 = inf,
    although the true log-probability is a perfectly ordinary negative number. The **log-sum-exp** form
    computes log p directly, never forming p: log p_k = (z_k - m) - log Σ_j exp(z_j - m).
    """
)
z_hard = np.array([[0.0, 800.0, -10.0]])  # the true class 0 is 800 below the winner
with np.errstate(divide="ignore", under="ignore"):
    ce_naive = float(-np.log(softmax_shifted(z_hard)[0, 0]))
logp, _ = ops.log_softmax_forward(z_hard)
ce_lse = float(-logp[0, 0])
ce_ops, _ = ops.softmax_cross_entropy(z_hard, np.array([0]))
report.text(
    f"""
    For logits [0, 800, -10] with true class 0: -log(softmax) = {ce_naive} (p₀ = e^-800 underflows to 0),
    while log-sum-exp gives **{fmt(ce_lse)}**, which is right: 800 + log(1 + e^-800 + e^-810) ≈ 800. This is
    what `scratchnet.ops.log_softmax_forward` and `softmax_cross_entropy` compute.
    """
)
report.claim(np.isinf(ce_naive) and abs(ce_lse - 800.0) < 1e-9, "log(softmax) gives an infinite loss; log-sum-exp gives 800",
             f"{ce_naive} vs {ce_lse:.6f}")
report.check_close("cross-entropy of [0, 800, -10]", ce_lse, ce_ops, 1e-15, ("log-sum-exp", "ops.softmax_cross_entropy"))
if torch is None:
    report.note_skip("torch comparison (torch is not installed)")
else:
    t_big = torch.tensor([[1000.0, 1001.0, 1002.0]], dtype=torch.float64)
    report.parity("softmax of [1000, 1001, 1002]", big[1], torch.softmax(t_big, 1)[0].numpy(), 1e-15, ("shifted", "torch.softmax"))
    t_ce = torch.nn.functional.cross_entropy(torch.tensor(z_hard), torch.tensor([0])).item()
    report.parity("cross-entropy of [0, 800, -10]", ce_lse, t_ce, 1e-15, ("log-sum-exp", "torch"))

scales = np.logspace(0, 3.3, 60)
base = np.array([1.0, 0.5, -0.3, 0.2])
with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
    naive_loss = np.array([-np.log(softmax_naive(s * base)[2]) for s in scales])
    naive_loss32 = np.array([-np.log(softmax_naive((s * base).astype(np.float32))[2]) for s in scales])
lse_loss = np.array([-ops.log_softmax_forward((s * base)[None])[0][0, 2] for s in scales])


def label_log_axes(ax, xlabel: str, ylabel: str, title: str, legend_size: int = 9) -> None:
    """Both log-scale figures of this walkthrough: axis labels, a small title, the legend, a grid at every decade."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=legend_size)
    ax.grid(alpha=0.3, which="both")


fig = Figure(figsize=(8.5, 4))
ax = fig.subplots()
ax.loglog(scales, lse_loss, color="black", lw=2, label="log-sum-exp (stable)")
ax.loglog(scales, np.where(np.isfinite(naive_loss), naive_loss, np.nan), "--", color="tab:blue", label="-log(softmax) float64")
ax.loglog(scales, np.where(np.isfinite(naive_loss32), naive_loss32, np.nan), ":", color="tab:red", lw=2, label="-log(softmax) float32")
ax.axvline(limit32, color="tab:red", lw=0.8)
ax.axvline(limit64, color="tab:blue", lw=0.8)
label_log_axes(ax, "logit scale s (logits = s · [1, 0.5, -0.3, 0.2]; true class: the third)", "cross-entropy",
               "As written, the loss becomes inf or nan (the line stops) near ln(max float)")
report.figure(fig, "overflow", "Cross-entropy against the scale of the logits: the naive formula stops where exp overflows; log-sum-exp goes on.")
first_bad32 = scales[np.argmax(~np.isfinite(naive_loss32))]
report.claim(limit32 / 1.0 <= first_bad32 <= 2 * limit32, "float32's naive loss breaks once the largest logit passes ≈ 88.7",
             f"first failure at scale {fmt(first_bad32, 1)}")

# %% [markdown]
# ## The initialisation variance, derived

# %%
report.section("Why Var(w) = 2 / fan_in: the variance of a sum")
report.text(
    """
    A unit of a linear layer computes y = Σ_{i=1}^{n} w_i x_i over its n = fan_in inputs. Take the weights
    independent of the inputs and of each other, with mean 0 and variance Var(w). Then each product has
    mean E[w]E[x] = 0 and variance E[w²x²] = Var(w)·E[x²], and the variances of independent terms add:
    """
)
report.math(r"\operatorname{Var}(y) = \sum_{i=1}^{n} \operatorname{Var}(w_i x_i) = n\,\operatorname{Var}(w)\,\mathbb{E}[x^2]")
report.text(
    """
    y is symmetric around 0 (w is), so a ReLU keeps exactly half of its second moment:
    E[ReLU(y)²] = ½ E[y²] = ½ Var(y). The next layer's input x' = ReLU(y) therefore has
    E[x'²] = ½ n Var(w) E[x²]. For the signal to keep its size layer after layer that factor must be 1:
    """
)
report.math(r"\tfrac12\, n \operatorname{Var}(w) = 1 \quad\Longrightarrow\quad \operatorname{Var}(w) = \frac{2}{n_{\text{in}}} \qquad\text{(Kaiming / He)}")
report.text(
    """
    Backward runs the same argument through Wᵀ: dx_i = Σ_j W_ji dy_j sums over fan_out terms, and the ReLU
    passes half, so gradients keep their size when Var(w) = 2/fan_out. Without the ReLU's ½ the conditions
    are Var(w) = 1/fan_in forward and 1/fan_out backward; **Xavier/Glorot** takes the compromise
    Var(w) = 2/(fan_in + fan_out). torch's default for Linear and Conv2d, `kaiming_uniform_(a=√5)`, draws
    U(±1/√fan_in), whose variance is 1/(3 fan_in): by the formula each ReLU layer multiplies E[x²] by ⅙.
    """
)
n_in, trials = 256, 20000
rng = np.random.default_rng(0)
x_in = rng.normal(size=(trials, n_in))
w_var = 2.0 / n_in
W = rng.normal(scale=np.sqrt(w_var), size=(64, n_in))
y = x_in @ W.T
measured_var = float(y.var())
relu_second = float(np.mean(np.maximum(y, 0) ** 2))
report.text(
    f"""
    Checked by sampling: {trials:,} standard-normal inputs of size n = {n_in}, weights with Var(w) = 2/n.
    Predicted Var(y) = n·Var(w)·E[x²] = 2; measured {fmt(measured_var)}. Predicted E[ReLU(y)²] = 1;
    measured {fmt(relu_second)}.
    """
)
report.claim(abs(measured_var - 2.0) < 0.1, "Var(y) = n Var(w) E[x²] (= 2 here)", f"measured {fmt(measured_var)}")
report.claim(abs(relu_second - 1.0) < 0.05, "the ReLU keeps half of the second moment (= 1 here)", f"measured {fmt(relu_second)}")

depth, width = 20, 256
inits = {
    "Kaiming: Var = 2/n": lambda shape, r: r.normal(scale=np.sqrt(2.0 / shape[1]), size=shape),
    "Xavier: Var = 2/(n+n) = 1/n": lambda shape, r: r.normal(scale=np.sqrt(1.0 / shape[1]), size=shape),
    "torch default: Var = 1/(3n)": lambda shape, r: r.uniform(-1 / np.sqrt(shape[1]), 1 / np.sqrt(shape[1]), size=shape),
}
predicted_factor = {"Kaiming: Var = 2/n": 1.0, "Xavier: Var = 2/(n+n) = 1/n": 0.5, "torch default: Var = 1/(3n)": 1 / 6}
second_moments = {}
h0 = np.random.default_rng(1).normal(size=(512, width))
for name, draw in inits.items():
    r = np.random.default_rng(2)
    h, moments = h0, []
    for _ in range(depth):
        h = np.maximum(h @ draw((width, width), r).T, 0.0)
        moments.append(float(np.mean(h**2)))
    second_moments[name] = np.array(moments)
rows = []
for name, m in second_moments.items():
    per_layer = float(np.exp(np.mean(np.diff(np.log(m)))))
    rows.append([name, fmt(predicted_factor[name]), fmt(per_layer), f"{m[-1]:.2e}", f"{predicted_factor[name] ** depth:.2e}"])
    report.claim(abs(per_layer / predicted_factor[name] - 1) < 0.1,
                 f"{name}: E[x²] changes by the derived factor ½·n·Var(w) per ReLU layer (to 10 %)",
                 f"{fmt(per_layer)} vs {fmt(predicted_factor[name])}")
report.text(f"Through {depth} ReLU layers of width {width} (biases 0), the second moment of the activations:")
report.table(["initialisation", "derived factor per layer", "measured (geometric mean)", f"E[x²] after {depth}", "derived"], rows)

fig = Figure(figsize=(8.5, 4))
ax = fig.subplots()
layers = np.arange(1, depth + 1)
for (name, m), colour in zip(second_moments.items(), ("tab:green", "tab:blue", "tab:red")):
    ax.semilogy(layers, m, "o", color=colour, ms=4, label=f"{name} (measured)")
    ax.semilogy(layers, m[0] / predicted_factor[name] * predicted_factor[name] ** layers, "-", color=colour, lw=1, alpha=0.7)
label_log_axes(ax, "layer", "E[x²] of the activations", "Dots: measured; lines: (½ n Var(w))^layer, derived above",
               legend_size=8)
report.figure(fig, "init", "The second moment of the activations through 20 ReLU layers for three initialisations, against the derived factor per layer.")

std_k = float(np.std(nn.init.kaiming_normal_(np.zeros((512, 512)), nonlinearity="relu", rng=0)))
lin = nn.Linear(512, 512, rng=0)
std_default = float(np.std(lin.weight.data))
report.text(
    f"""
    The library's initialisers draw exactly these: `scratchnet.nn.init.kaiming_normal_(w, nonlinearity="relu")`
    gives std {fmt(std_k)} for fan_in 512 (√(2/512) = {fmt(np.sqrt(2 / 512))}), and a fresh
    `nn.Linear(512, 512)` (torch's default) has weight std {fmt(std_default)} (1/√(3·512) = {fmt(1 / np.sqrt(3 * 512))}).
    The `vanishing_exploding` walkthrough shows what these factors do to the gradients of a 20-layer net.
    """
)
report.check_close("kaiming_normal_ std", std_k, np.sqrt(2 / 512), 0.01, ("sampled", "√(2/fan_in)"))
report.check_close("nn.Linear default std", std_default, 1 / np.sqrt(3 * 512), 0.01, ("sampled", "1/√(3 fan_in)"))
if torch is not None:
    tw = torch.empty(512, 512, dtype=torch.float64)
    torch.manual_seed(0)
    torch.nn.init.kaiming_normal_(tw, nonlinearity="relu")
    report.parity("kaiming_normal_ std", std_k, float(tw.std()), 0.01, ("scratchnet", "torch"))
    report.parity("default Linear std", std_default, float(torch.nn.Linear(512, 512).weight.detach().std()), 0.01, ("scratchnet", "torch"))

# %%
report_path = report.finish()  # the markdown report; its figures are beside it
