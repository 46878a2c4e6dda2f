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
# # Vanishing and exploding gradients: 20 layers deep, at initialisation
#
# Backprop multiplies one factor per layer. In a deep net these products shrink or grow
# geometrically unless each factor is close to 1. We measure the gradient norm of every layer of a
# 20-layer sigmoid net and a 20-layer ReLU net under five initialisations, with a Sigmoid module
# written (and gradient-checked) here.

# %%
import math

import numpy as np
from matplotlib.figure import Figure

from scratchnet import nn
from scratchnet.gradcheck import check_module, numerical_gradient, rel_error
from compare.walkthroughs._report import Report, fmt, optional_torch

report = Report("vanishing_exploding", "Vanishing and exploding gradients: 20 layers deep, at initialisation")
torch = optional_torch()
DEPTH, WIDTH, CLASSES, BATCH = 20, 64, 10, 32
rng = np.random.default_rng(0)

# %% [markdown]
# ## A Sigmoid module, forward and backward, checked

# %%
report.section("A Sigmoid layer, written and checked here")


class Sigmoid(nn.Module):
    """σ(x) = 1 / (1 + exp(-x)), element-wise; backward: dx = dout · σ(x)(1 - σ(x))."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(x))  # never overflows
        s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        self._save_cache(s)
        return s

    def backward(self, dout: np.ndarray) -> np.ndarray:
        s = self._pop_cache()
        return dout * s * (1 - s)


report.text(
    """
    σ(x) = 1/(1 + e^{-x}) squashes any number into (0, 1). Its derivative can be written with its output:
    σ'(x) = σ(x)(1 - σ(x)), so the forward pass keeps σ(x) and the backward pass multiplies the upstream
    gradient by s(1 - s). That factor is **at most 1/4** (at x = 0, where s = 1/2) and tiny once |x| is
    a few units (the sigmoid *saturates*). (The forward uses e^{-|x|} so that it never overflows.)
    """
)
zs = rng.normal(scale=3.0, size=(5, 7))
res = check_module(Sigmoid(), zs)
report.claim(res.max_error < 1e-7, "Sigmoid backward passes a float64 gradient check (random upstream)", f"{res.max_error:.1e}")
res2 = check_module(nn.Sequential(nn.Linear(7, 4, dtype=np.float64, rng=0), Sigmoid()), zs)
report.claim(res2.max_error < 1e-7, "Linear → Sigmoid passes it too (input and parameters)", f"{res2.max_error:.1e}")
big = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
sig_big = Sigmoid()(big)
report.claim(np.all(np.isfinite(sig_big)) and sig_big[2] == 0.5, "no overflow at ±800, σ(0) = 1/2")
if torch is not None:
    g = rng.normal(size=zs.shape)
    tz = torch.tensor(zs, requires_grad=True)
    torch.sigmoid(tz).backward(torch.tensor(g))
    s_mod = Sigmoid()
    out = s_mod(zs)
    report.parity("sigmoid forward", out, torch.sigmoid(torch.tensor(zs)).numpy(), 1e-15, ("Sigmoid", "torch.sigmoid"))
    report.parity("sigmoid backward", s_mod.backward(g), tz.grad.numpy(), 1e-14, ("Sigmoid", "torch autograd"))
else:
    report.note_skip("torch.sigmoid comparison (torch is not installed)")

# %% [markdown]
# ## Why depth multiplies
#
# For $h_l = \text{act}(z_l)$, $z_l = h_{l-1} W_l^\top + b_l$:
# $\frac{\partial L}{\partial h_{l-1}} = \big(\frac{\partial L}{\partial h_l} \odot \text{act}'(z_l)\big) W_l$ and
# $\frac{\partial L}{\partial W_l} = \big(\frac{\partial L}{\partial h_l} \odot \text{act}'(z_l)\big)^\top h_{l-1}$.
# Each layer multiplies the gradient's size by about $\sqrt{\text{fan\_out}} \cdot \text{std}(W) \cdot \text{rms}(\text{act}')$.

# %%
report.section("Why depth multiplies")
report.text(
    """
    Take a stack of layers z_l = h_{l-1} W_lᵀ + b_l, h_l = act(z_l). By the chain rule the gradient
    reaching layer l-1 is
    """
)
report.math(r"\frac{\partial L}{\partial h_{l-1}} = \Big(\frac{\partial L}{\partial h_l} \odot \mathrm{act}'(z_l)\Big) W_l,\qquad \frac{\partial L}{\partial W_l} = \Big(\frac{\partial L}{\partial h_l} \odot \mathrm{act}'(z_l)\Big)^{\!\top} h_{l-1}")
report.text(
    f"""
    Each layer multiplies the gradient by act'(z) and by a random matrix. With independent weights of
    standard deviation σ_w in a layer of width n = {WIDTH}, the size of the gradient changes by a factor of
    about √n · σ_w · rms(act'(z)) per layer, and after 20 layers by that factor to the 19th power. The
    forward pass behaves the same way with E[act(z)²] in place of act'². Sigmoid's derivative is at most
    1/4, so its factor is at most √64 · σ_w / 4 = 2σ_w; ReLU's is 1 for half the units and 0 for the other
    half, giving √(n/2) · σ_w, which is exactly 1 for **Kaiming (He)** initialisation σ_w = √(2/n).
    **Xavier (Glorot)** σ_w = √(2/(fan_in + fan_out)) = √(1/n) keeps the variance for a linear (or tanh-like)
    layer. torch's default for Linear, U(±1/√fan_in), has σ_w = 1/√(3n), a factor √(1/6) ≈ 0.41 per ReLU
    layer.
    """
)

# %% [markdown]
# ## 20 layers, five initialisations

# %%
report.section("The experiment: 20 hidden layers of width 64, at initialisation")

INITS = {
    "torch default": None,
    "too small N(0, 0.01²)": 0.01,
    "Xavier normal": math.sqrt(2.0 / (WIDTH + WIDTH)),
    "Kaiming normal": math.sqrt(2.0 / WIDTH),
    "too large N(0, 1)": 1.0,
}


def build(act: str, init: str, seed: int = 1) -> nn.Sequential:
    r = np.random.default_rng(seed)
    layers = []
    for _ in range(DEPTH):
        layers += [nn.Linear(WIDTH, WIDTH, dtype=np.float64, rng=r), Sigmoid() if act == "sigmoid" else nn.ReLU()]
    layers.append(nn.Linear(WIDTH, CLASSES, dtype=np.float64, rng=r))
    net = nn.Sequential(*layers)
    std = INITS[init]
    if std is not None:
        for m in net:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, std, rng=r)
                nn.init.zeros_(m.bias)
    return net


xb = rng.normal(size=(BATCH, WIDTH))
yb = rng.integers(0, CLASSES, size=BATCH)


def measure(net: nn.Sequential):
    """One forward and backward pass. Per hidden layer l: std of its activations h_l, the norm of the
    gradient reaching them, ‖dL/dh_l‖, and the norm of its weight gradient ‖dL/dW_l‖."""
    crit = nn.CrossEntropyLoss()
    h, act_std, saturated = xb, [], []
    for m in net:
        h = m(h)
        if not isinstance(m, nn.Linear):
            act_std.append(float(h.std()))
            saturated.append(float(np.mean((h < 0.02) | (h > 0.98))))  # sigmoid: σ'(z) < 0.02
    crit(h, yb)
    net.zero_grad()
    g, dh = crit.backward(), []
    for m in reversed(list(net)):
        if not isinstance(m, nn.Linear):
            dh.append(float(np.linalg.norm(g)))  # g is dL/dh_l, the gradient at this activation's output
        g = m.backward(g)
    linears = [m for m in net if isinstance(m, nn.Linear)][:DEPTH]
    return (np.array(act_std), np.array(dh[::-1]), np.array([np.linalg.norm(m.weight.grad) for m in linears]),
            float(np.mean(saturated)))


runs = {}
rows = []
for act in ("sigmoid", "relu"):
    for init in INITS:
        net = build(act, init)
        stds, dh, gnorms, sat = measure(net)
        runs[act, init] = (net, stds, dh, gnorms, sat)
        rows.append([act, init, f"{stds[0]:.1e}", f"{stds[-1]:.1e}", f"{dh[-1]:.1e}", f"{dh[0]:.1e}",
                     f"{dh[0] / dh[-1]:.0e}", f"×{(dh[0] / dh[-1]) ** (1 / (DEPTH - 1)):.2f}", f"{gnorms[-1]:.1e}", f"{gnorms[0]:.1e}"])
report.text(
    f"""
    A batch of {BATCH} random inputs (standard normal, {WIDTH} features) with random labels goes through
    20 × (Linear({WIDTH}, {WIDTH}) → activation) and a final Linear({WIDTH}, {CLASSES}), then softmax
    cross-entropy; one backward pass, in float64. For each hidden layer l (1 = nearest the input) we record
    the size of its activations h_l (standard deviation), of the gradient that reaches them, ‖dL/dh_l‖
    (the *backward signal*), and of its weight gradient ‖dL/dW_l‖ (what the optimiser gets). "torch
    default" keeps the layers' own initialisation (weights and biases U(±1/√64)); the other four draw
    the weights from a normal distribution with the standard deviation named and set the biases to 0.
    """
)
report.table(["activation", "initialisation", "std(h₁)", "std(h₂₀)", "‖dL/dh₂₀‖", "‖dL/dh₁‖", "‖dL/dh₁‖ / ‖dL/dh₂₀‖",
              "factor per layer, going down", "‖dL/dW₂₀‖", "‖dL/dW₁‖"], rows)

back = {k: v[2][0] / v[2][-1] for k, v in runs.items()}
wgrad = {k: v[3] for k, v in runs.items()}
for init in INITS:
    report.claim(back["sigmoid", init] < 0.1, f"sigmoid, {init}: the backward signal shrinks more than 10-fold over 19 layers",
                 f"{back['sigmoid', init]:.0e}")
report.claim(0.1 < back["relu", "Kaiming normal"] < 10 and 0.1 < wgrad["relu", "Kaiming normal"][0] / wgrad["relu", "Kaiming normal"][-1] < 10,
             "ReLU with Kaiming init: backward signal and weight gradient of layers 1 and 20 within a factor 10",
             f"{back['relu', 'Kaiming normal']:.2f} and {wgrad['relu', 'Kaiming normal'][0] / wgrad['relu', 'Kaiming normal'][-1]:.2f}")
report.claim(back["relu", "torch default"] < 1e-3, "ReLU with torch's default init: the backward signal vanishes (< 1e-3)",
             f"{back['relu', 'torch default']:.0e}")
report.claim(back["relu", "too small N(0, 0.01²)"] < 1e-10, "ReLU with N(0, 0.01²): it vanishes (< 1e-10)",
             f"{back['relu', 'too small N(0, 0.01²)']:.0e}")
report.claim(back["relu", "too large N(0, 1)"] > 1e3, "ReLU with N(0, 1): it explodes (> 1e3)", f"{back['relu', 'too large N(0, 1)']:.0e}")
report.claim(wgrad["relu", "too small N(0, 0.01²)"].max() < 1e-10 and wgrad["relu", "too large N(0, 1)"].min() > 1e6,
             "with zero biases the weight gradients are tiny (N(0, 0.01²)) or huge (N(0, 1)) in every layer",
             f"max {wgrad['relu', 'too small N(0, 0.01²)'].max():.0e}; min {wgrad['relu', 'too large N(0, 1)'].min():.0e}")
stds_big = runs["relu", "too large N(0, 1)"][1]
report.claim(stds_big[-1] > 1e10, "and N(0, 1) makes the activations explode in the forward pass too", f"std(h₂₀) = {stds_big[-1]:.0e}")
factor = {k: v ** (-1 / (DEPTH - 1)) for k, v in back.items()}  # how much the signal shrinks per layer
sat_big = runs["sigmoid", "too large N(0, 1)"][4]
report.claim(sat_big > 0.3, "sigmoid with N(0, 1): over 30% of the hidden units are saturated (σ' < 0.02)", f"{sat_big:.0%}")
geo = {k: float(np.exp(np.mean(np.log(v)))) for k, v in wgrad.items()}
report.text(
    f"""
    **Sigmoid: the backward signal shrinks under every initialisation.** Small weights keep z near 0, where
    σ' ≈ 1/4, but then the matrix factor √n·σ_w is small too: the signal shrinks ×{factor['sigmoid', 'torch default']:.1f} per layer with
    torch's default, ×{factor['sigmoid', 'Kaiming normal']:.1f} even with Kaiming's σ_w. Large weights, N(0, 1), make √n·σ_w = 8 large enough
    to nearly offset σ' — the signal shrinks only ×{factor['sigmoid', 'too large N(0, 1)']:.2f} per layer — but at the price of
    saturation: {sat_big:.0%} of the hidden units output less than 0.02 or more than 0.98, where σ' < 0.02 and
    they pass almost no gradient, a poor place to start learning from. This is the problem that
    ReLU (with careful initialisation, and later normalisation layers and residual connections) solved.

    **ReLU: it depends on the initialisation.** With Kaiming's σ_w = √(2/n) the factor √(n/2)·σ_w is 1 and
    the gradient reaches layer 1 about as large as layer 20 (measured ×{factor['relu', 'Kaiming normal']:.2f} per layer). With torch's
    default (a choice made for shallow nets) it shrinks ×{factor['relu', 'torch default']:.2f} per layer (theory: √6 ≈ 2.45), with
    Xavier ×{factor['relu', 'Xavier normal']:.2f} (theory √2 ≈ 1.41, Xavier is meant for tanh-like units), with N(0, 0.01²)
    ×{factor['relu', 'too small N(0, 0.01²)']:.1f} (theory 1/(√32·0.01) ≈ 17.7); with N(0, 1) it *grows* ×{1 / factor['relu', 'too large N(0, 1)']:.1f} per layer (theory √32 ≈ 5.66).

    **Weight gradients hide it when the biases are zero.** dL/dW_l = (backward signal at l)ᵀ · h_{{l-1}}
    multiplies the backward signal, which shrinks (or grows) towards the input, by the forward activation,
    which shrinks (or grows) away from it. With zero biases the two trends cancel, and every layer's
    ‖dL/dW‖ is about the same (see the bottom row of the figure): about {geo['relu', 'too small N(0, 0.01²)']:.0e} in every
    layer for N(0, 0.01²) and about {geo['relu', 'too large N(0, 1)']:.0e} for N(0, 1), against {geo['relu', 'Kaiming normal']:.1f} for Kaiming. No
    single learning rate fixes that. (torch's default init has biases, which keep the forward activations
    from vanishing, so there the weight gradients do fall towards the input.)
    """
)

# %%
fig = Figure(figsize=(12, 11))
axes = fig.subplots(3, 2, sharex=True)
colours = dict(zip(INITS, ["tab:gray", "tab:purple", "tab:green", "tab:blue", "tab:red"]))
layers_idx = np.arange(1, DEPTH + 1)
for col, act in enumerate(("sigmoid", "relu")):
    for init in INITS:
        _, stds, dh, gnorms, _ = runs[act, init]
        axes[0, col].semilogy(layers_idx, stds, marker="o", ms=3, color=colours[init], label=init)
        axes[1, col].semilogy(layers_idx, dh, marker="o", ms=3, color=colours[init], label=init)
        axes[2, col].semilogy(layers_idx, gnorms, marker="o", ms=3, color=colours[init], label=init)
    axes[0, col].set_title(f"{act}: forward — std of each layer's activations h_l", fontsize=10)
    axes[1, col].set_title(f"{act}: backward signal — ‖dL/dh_l‖", fontsize=10)
    axes[2, col].set_title(f"{act}: weight gradient — ‖dL/dW_l‖", fontsize=10)
    axes[2, col].set_xlabel("hidden layer l (1 = nearest the input)")
    for r in (0, 1, 2):
        axes[r, col].grid(True, which="major", alpha=0.3)
        axes[r, col].set_xticks(range(1, DEPTH + 1, 2))
axes[0, 0].set_ylabel("std(h_l)")
axes[1, 0].set_ylabel("‖dL/dh_l‖")
axes[2, 0].set_ylabel("‖dL/dW_l‖")
axes[0, 1].legend(fontsize=8, loc="upper left")
fig.suptitle(f"{DEPTH} layers of width {WIDTH} at initialisation: sigmoid vanishes; ReLU holds steady with Kaiming init")
report.figure(fig, "layers", "Per layer, for five initialisations: activation size (top), backward signal (middle), weight-gradient norm (bottom).")

# %% [markdown]
# ## Are these gradients right? torch autograd, and what finite differences can and cannot see

# %%
report.section("Checking the deep gradients")
if torch is None:
    report.note_skip("torch autograd comparison of the 20-layer nets (torch is not installed)")
else:
    for act, init in (("sigmoid", "torch default"), ("relu", "Kaiming normal"), ("relu", "too large N(0, 1)")):
        net = runs[act, init][0]
        mods, params = [], []
        for m in net:
            if isinstance(m, nn.Linear):
                lin = torch.nn.Linear(m.in_features, m.out_features, dtype=torch.float64)
                with torch.no_grad():
                    lin.weight.copy_(torch.from_numpy(m.weight.data))
                    lin.bias.copy_(torch.from_numpy(m.bias.data))
                mods.append(lin)
                params.append(m.weight)
            else:
                mods.append(torch.nn.Sigmoid() if act == "sigmoid" else torch.nn.ReLU())
        tnet = torch.nn.Sequential(*mods)
        torch.nn.functional.cross_entropy(tnet(torch.from_numpy(xb)), torch.from_numpy(yb)).backward()
        tlin = [m for m in tnet if isinstance(m, torch.nn.Linear)]
        worst = max(
            (rel_error(p.grad, t.weight.grad.numpy()), i + 1) for i, (p, t) in enumerate(zip(params, tlin))
        )
        report.claim(worst[0] < 1e-10, f"{act}, {init}: all {DEPTH + 1} weight gradients equal torch autograd's, layer by layer",
                     f"worst relative error {worst[0]:.1e} at layer {worst[1]}")

net = runs["sigmoid", "torch default"][0]
first, last = net[0].weight, net[2 * DEPTH - 2].weight
crit = nn.CrossEntropyLoss()
loss_of = lambda: crit(net(xb), yb)
idx = np.arange(4)
fd_first = numerical_gradient(loss_of, first.data, eps=1e-5, indices=idx).reshape(-1)[idx]
fd_last = numerical_gradient(loss_of, last.data, eps=1e-5, indices=idx).reshape(-1)[idx]
bp_first, bp_last = first.grad.reshape(-1)[idx], last.grad.reshape(-1)[idx]
u = np.finfo(np.float64).eps / 2  # the unit round-off, 1.1e-16 (as in gradient_checking)
noise = u * abs(loss_of()) / 1e-5
report.text(
    f"""
    **torch autograd** agrees layer by layer (above), even where the gradients are 1e-15 in size. **Finite
    differences** are a different story. For the sigmoid net with torch's default init, take 4 entries of
    the last hidden layer's weights and 4 of the first's (ε = 1e-5):

    - last layer: backprop entries of size ~{fmt(np.abs(bp_last).mean())}; the centred differences agree
      (relative error {rel_error(bp_last, fd_last):.1e}).
    - first layer: backprop entries of size ~{fmt(np.abs(bp_first).mean())}. But the loss ({fmt(loss_of())}) is only
      known to about u·|L| ≈ {u * abs(loss_of()):.0e} (u = {u:.1e}, the unit round-off), so a difference quotient carries noise of about
      u·|L|/ε ≈ {noise:.0e} — far larger than the gradient itself. The centred differences come out as
      {", ".join(f"{v:.0e}" for v in fd_first)}: {"the loss did not change at all" if not np.any(fd_first) else "round-off noise"}
      (relative error {rel_error(bp_first, fd_first):.1f}).

    A vanished gradient is not only useless for learning, it is below what finite differences can
    measure; the backward pass is checked instead on shallow nets (the Sigmoid check above) and against
    torch.
    """
)
report.claim(rel_error(bp_last, fd_last) < 1e-6, "finite differences confirm the last layer's gradient")
report.claim(np.abs(bp_first).max() < noise / 100 and rel_error(bp_first, fd_first) > 0.5,
             "the first layer's gradient is 100 times below the finite-difference noise floor, which cannot resolve it",
             f"max |grad| {np.abs(bp_first).max():.0e} vs noise {noise:.0e}")

# %%
report_path = report.finish()  # the markdown report; its figures are beside it
