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
# # Max-pooling, ReLU and dropout: layers whose gradient is a mask
#
# None of these three layers has weights. Their backward passes only decide *where* the upstream
# gradient goes: to the winner of each pooling window, through the inputs a ReLU let pass, through
# the units dropout kept (scaled by 1/(1-p)). Ties and kinks are where the details matter.

# %%
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from scratchnet import nn, ops
from scratchnet.gradcheck import numerical_gradient
from scratchnet.ops import naive
from compare.walkthroughs._report import Report, fmt, heatmap, optional_torch

report = Report("pooling_relu_dropout", "Max-pooling, ReLU and dropout: layers whose gradient is a mask")
torch = optional_torch()
ROUND_OFF = 1e-12
rng = np.random.default_rng(11)


def route_max_gradient(x2d, G2d, k, s):
    """By hand: each window's upstream gradient goes to its first maximum in row-major order."""
    dx = np.zeros_like(x2d)
    winners = np.zeros(G2d.shape + (2,), dtype=int)
    for i in range(G2d.shape[0]):
        for j in range(G2d.shape[1]):
            window = x2d[i * s : i * s + k, j * s : j * s + k]
            r, c = np.unravel_index(np.argmax(window), window.shape)  # argmax returns the first maximum
            winners[i, j] = (i * s + r, j * s + c)
            dx[i * s + r, j * s + c] += G2d[i, j]
    return dx, winners


# %% [markdown]
# ## Max-pooling: the gradient goes to the winner
#
# out = max(window). Nudging the largest element moves the output one for one; nudging any other
# element (a little) changes nothing. So d out / d x is 1 for the winner and 0 elsewhere, and
# backward sends each G to its window's winner.

# %%
report.section("Max-pooling 2×2, stride 2: the gradient goes to each window's winner")
x = np.array(
    [[1.0, 3.0, 2.0, 0.0],
     [3.0, 0.5, 1.0, 2.5],
     [0.0, 4.0, 5.0, 5.0],
     [2.0, 1.5, 1.0, 2.0]]
)[None, None]
G = np.array([[0.9, 1.4], [1.2, -0.5]])[None, None]
out, cache = ops.maxpool2d_forward(x, 2)
dx_ops = ops.maxpool2d_backward(G, cache)
dx_hand, winners = route_max_gradient(x[0, 0], G[0, 0], 2, 2)
report.text(
    """
    The derivative of max(a, b, c, d) with respect to its largest argument is 1 (nudge it and the output
    moves with it) and 0 for the others (nudge them a little and the maximum does not change). So the
    backward pass of max-pooling is a router: each upstream gradient G[i, j] goes, whole, to the
    position that won window (i, j), and every other input gets 0.

    Two windows below have a **tie**: the top-left window holds 3.0 twice, the bottom-right one 5.0
    twice. The maximum is not differentiable there; like torch, scratchnet gives the whole gradient to
    the *first* maximum in row-major order (scan the window's rows top to bottom, each left to right).
    """
)
report.arrays(digits=2, x=x[0, 0], out=out[0, 0], G=G[0, 0])
report.table(
    ["window (i, j)", "values", "max", "winner (row, col) in x", "receives"],
    [
        [
            f"({i}, {j})",
            " ".join(f"{v:.1f}" for v in x[0, 0, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].ravel()),
            f"{out[0, 0, i, j]:.1f}",
            str(tuple(int(t) for t in winners[i, j])),
            fmt(G[0, 0, i, j], 2),
        ]
        for i in range(2)
        for j in range(2)
    ],
)
report.arrays(digits=2, dx=dx_hand)
report.parity("max-pool forward", out, naive.maxpool2d_forward_naive(x, 2)[0], 0.0, ("ops", "naive twin"))
report.check_close("max-pool dx", dx_hand, dx_ops[0, 0], 0.0, ("routed by hand", "ops.maxpool2d_backward"))
report.parity("max-pool dx", dx_hand, naive.maxpool2d_backward_naive(G, x, 2)[0, 0], 0.0, ("routed by hand", "naive twin"))
report.claim(dx_ops[0, 0, 0, 1] == G[0, 0, 0, 0] and dx_ops[0, 0, 1, 0] == 0,
             "tie 3.0 / 3.0: the first maximum (0, 1) gets the gradient, the second (1, 0) gets 0")
report.claim(dx_ops[0, 0, 2, 2] == G[0, 0, 1, 1] and dx_ops[0, 0, 2, 3] == 0,
             "tie 5.0 / 5.0: the first maximum (2, 2) gets the gradient, the second (2, 3) gets 0")
if torch is not None:
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.max_pool2d(tx, 2)
    tout.backward(torch.tensor(G))
    report.parity("max-pool forward", out, tout.detach().numpy(), 0.0, ("scratchnet", "torch"))
    report.parity("max-pool dx (ties included)", dx_ops, tx.grad.numpy(), 0.0, ("scratchnet", "torch autograd"))
else:
    report.note_skip("every comparison with torch in this walkthrough (torch is not installed)")

# %% [markdown]
# ## What finite differences say at a tie

# %%
report.section("At a tie the derivative does not exist: what finite differences see")
eps = 1e-6
x_ = x.copy()
s_of = lambda: float(np.sum(ops.maxpool2d_forward(x_, 2)[0] * G))
s0 = s_of()
rows = []
one_sided = {}
for pos in ((0, 1), (1, 0)):
    old = x_[0, 0][pos]
    x_[0, 0][pos] = old + eps
    up = (s_of() - s0) / eps
    x_[0, 0][pos] = old - eps
    down = (s0 - s_of()) / eps
    x_[0, 0][pos] = old
    centred = numerical_gradient(s_of, x_, eps, indices=np.array([pos[0] * 4 + pos[1]]))[0, 0][pos]
    one_sided[pos] = (up, down, centred)
    rows.append([str(pos), fmt(up), fmt(down), fmt(centred), fmt(dx_ops[0, 0][pos])])
report.text(
    f"""
    Take the tied window: 3.0 at (0, 1) and at (1, 0), upstream gradient g = {fmt(G[0, 0, 0, 0], 2)}.
    Raise either 3.0 by ε and it becomes the sole maximum: the output rises by ε (slope g from the
    right). Lower it and the other 3.0 keeps the output where it was (slope 0 from the left). The
    centred difference averages the two one-sided slopes and reports g/2 = {fmt(G[0, 0, 0, 0] / 2)} for
    *both* — neither of the slopes the function actually has. Backprop must choose: any split of g between
    the two (all to one, or half each) is a valid *subgradient*; frameworks give all of it to one, and
    scratchnet gives it to the same one as torch. So at a tie backprop and finite differences disagree
    although both are right, which is why gradient checks keep inputs away from ties (see the
    `gradient_checking` walkthrough).
    """
)
report.table(["position", "right slope (x+ε)", "left slope (x-ε)", "centred difference", "backprop"], rows)
g00 = G[0, 0, 0, 0]
for pos, (up, down, centred) in one_sided.items():
    report.claim(abs(up - g00) < 1e-8 and abs(down) < 1e-8 and abs(centred - g00 / 2) < 1e-8,
                 f"at the tie {pos}: right slope g, left slope 0, centred difference g/2")

# %% [markdown]
# ## Overlapping windows: gradients add up

# %%
report.section("Overlapping windows (3×3, stride 1): one input can win several windows")
xo = np.round(rng.normal(size=(1, 1, 4, 4)), 2)
xo[0, 0, 1, 2] = 3.0  # a clear maximum that sits inside all four windows
Go = np.round(rng.normal(size=(1, 1, 2, 2)), 2)
outo, cache_o = ops.maxpool2d_forward(xo, 3, 1)
dxo_ops = ops.maxpool2d_backward(Go, cache_o)
dxo_hand, winners_o = route_max_gradient(xo[0, 0], Go[0, 0], 3, 1)
wins = np.zeros((4, 4), dtype=int)
for i in range(2):
    for j in range(2):
        wins[tuple(winners_o[i, j])] += 1
report.text(
    f"""
    With a 3 × 3 window and stride 1 on a 4 × 4 input, the four windows overlap. The 3.0 at (1, 2)
    lies in all of them and wins all four, so it receives the **sum** of the four upstream gradients,
    {" + ".join(fmt(v, 2) for v in Go.ravel())} = {fmt(Go.sum(), 2)} (the chain rule sums over every use).
    """
)
report.arrays(digits=2, x=xo[0, 0], G=Go[0, 0])
report.arrays(**{"times each input won": wins})
report.arrays(digits=2, dx=dxo_hand)
report.check_close("overlapping max-pool dx", dxo_hand, dxo_ops[0, 0], ROUND_OFF, ("routed by hand", "ops"))
xo_ = xo.copy()
numeric = numerical_gradient(lambda: float(np.sum(ops.maxpool2d_forward(xo_, 3, 1)[0] * Go)), xo_, 1e-6)
report.parity("overlapping max-pool dx", dxo_hand, numeric[0, 0], 1e-7, ("routed by hand", "centred differences"))
report.claim(abs(dxo_ops[0, 0, 1, 2] - Go.sum()) < 1e-15, "the input that wins all four windows gets the sum of their gradients")
if torch is not None:
    tx = torch.tensor(xo, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, 3, 1).backward(torch.tensor(Go))
    report.parity("overlapping max-pool dx", dxo_ops, tx.grad.numpy(), ROUND_OFF, ("scratchnet", "torch autograd"))

xn = -1.0 - rng.random((1, 1, 4, 4))  # all negative
outp, _ = ops.maxpool2d_forward(xn, 2, 2, 1)
report.text(
    f"""
    **Padding never wins.** torch pads max-pooling with -∞, not with zeros: on an all-negative input
    (max {fmt(xn.max())}) a 2 × 2 pool with padding 1 still outputs only input values (largest output
    {fmt(outp.max())}), never a 0 from the padding.
    """
)
report.claim(outp.max() < 0, "with padding 1 on an all-negative input, every pooled value is an input value (< 0)")

fig = Figure(figsize=(12, 6.5))
axes = fig.subplots(2, 3)
for row, (xx, gg, dd, k, s, label) in enumerate(
    ((x[0, 0], G[0, 0], dx_hand, 2, 2, "2×2 stride 2 (ties)"), (xo[0, 0], Go[0, 0], dxo_hand, 3, 1, "3×3 stride 1 (overlap)"))
):
    for ax, a, title in zip(axes[row], (xx, gg, dd), (f"input x — {label}", "upstream G", "dx: G routed to the winners")):
        heatmap(ax, a, title)
    win = winners if row == 0 else winners_o
    for (i, j) in np.ndindex(gg.shape):
        r, c = win[i, j]
        axes[row, 0].add_patch(Rectangle((c - 0.45, r - 0.45), 0.9, 0.9, fill=False, lw=2.5, color="black"))
    if k == s:
        for t in range(0, xx.shape[0] + 1, k):
            axes[row, 0].axhline(t - 0.5, color="gray", lw=1.5)
            axes[row, 0].axvline(t - 0.5, color="gray", lw=1.5)
fig.suptitle("Max-pooling backward: boxes mark the winners (ties: the first in row-major order wins)")
report.figure(fig, "maxpool", "Where max-pooling sends the gradient: non-overlapping windows with ties (top), overlapping windows (bottom).")

# %% [markdown]
# ## ReLU: a mask from the forward pass

# %%
report.section("ReLU: the forward pass decides the mask")
xr = np.array([[-1.5, -0.2, 0.0, 0.3, 2.0]])
Gr = np.round(rng.normal(size=xr.shape), 2)
outr, mask = ops.relu_forward(xr)
dxr = ops.relu_backward(Gr, mask)
dxr_hand = Gr * (xr > 0)
report.text(
    """
    relu(x) = max(x, 0) has slope 1 where x > 0 and slope 0 where x < 0. So backward multiplies the
    upstream gradient by the mask [x > 0] that the forward pass saw: positive inputs pass their gradient
    through unchanged, the others block it. At exactly x = 0 the slope is undefined (0 from the left, 1
    from the right); scratchnet, like torch, uses 0.
    """
)
report.math(r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial \mathrm{out}} \cdot [x > 0]")
report.arrays(digits=2, x=xr, **{"relu(x)": outr, "mask [x > 0]": mask.astype(int), "G": Gr, "dx = G * mask": dxr})
report.check_close("ReLU dx", dxr_hand, dxr, 0.0, ("G * [x > 0]", "ops.relu_backward"))
report.claim(dxr[0, 2] == 0.0, "the gradient at exactly x = 0 is 0")
if torch is not None:
    tx = torch.tensor(xr, requires_grad=True)
    torch.relu(tx).backward(torch.tensor(Gr))
    report.parity("ReLU dx (x = 0 included)", dxr, tx.grad.numpy(), 0.0, ("scratchnet", "torch autograd"))

# %% [markdown]
# ## Dropout: a random mask, scaled by 1/(1-p)

# %%
report.section("Dropout: a random mask, and why it is scaled by 1/(1-p)")
p = 0.5
xd = np.round(rng.normal(size=(3, 4)), 2)
Gd = np.round(rng.normal(size=(3, 4)), 2)
keep = np.random.default_rng(5).random(xd.shape) >= p  # the same draws ops.dropout_forward makes
outd_hand = xd * keep / (1 - p)
outd, dmask = ops.dropout_forward(xd, p, np.random.default_rng(5), training=True)
dxd = ops.dropout_backward(Gd, dmask)
report.text(
    f"""
    In training, dropout zeroes each element with probability p = {p} and multiplies the survivors by
    1/(1 - p) = {fmt(1 / (1 - p), 1)} (*inverted* dropout). Each output is x·m/(1-p) with m ∈ {{0, 1}}
    drawn once per forward pass, so its derivative is m/(1-p): backward multiplies G by **the same
    scaled mask**. The scaling keeps the expected output equal to x — E[m]/(1-p) = (1-p)/(1-p) = 1 — so
    evaluation can simply switch dropout off and the next layer sees inputs of the same size.
    """
)
report.arrays(digits=2, x=xd, **{"mask m": keep.astype(int), "out = x * m / (1 - p)": outd, "G": Gd, "dx = G * m / (1 - p)": dxd})
report.check_close("dropout forward", outd_hand, outd, 0.0, ("x * m / (1 - p)", "ops.dropout_forward"))
report.check_close("dropout dx", Gd * keep / (1 - p), dxd, 0.0, ("G * m / (1 - p)", "ops.dropout_backward"))
layer = nn.Dropout(p, rng=np.random.default_rng(5))
out_layer = layer(xd)
dx_layer = layer.backward(Gd)
report.check_close("nn.Dropout backward uses the forward's mask", dxd, dx_layer, 0.0, ("ops", "nn.Dropout"))
report.check_close("nn.Dropout forward", outd, out_layer, 0.0, ("ops", "nn.Dropout"))
xd_ = xd.copy()
frozen = lambda: float(np.sum(xd_ * dmask * Gd))  # the forward with its mask held fixed
report.parity("dropout dx (mask held fixed)", dxd, numerical_gradient(frozen, xd_, 1e-6), 1e-8, ("ops", "centred differences"))
layer.eval()
report.claim(np.array_equal(layer(xd), xd), "in eval mode dropout is the identity")

big = np.ones(200_000)
p2 = 0.3
outbig, _ = ops.dropout_forward(big, p2, np.random.default_rng(1), training=True)
se = np.sqrt(p2 / (1 - p2) / big.size)  # std of the mean of x*m/(1-p) for x = 1
report.text(
    f"""
    Over {big.size:,} ones with p = {p2}: {np.mean(outbig == 0):.2%} of the outputs are zero (expected
    {p2:.0%}), the survivors are {fmt(outbig.max())} = 1/(1 - {p2}), and the mean output is
    {fmt(outbig.mean())} — 1 within its standard error {se:.1e}.
    """
)
report.claim(abs(outbig.mean() - 1) < 5 * se, "inverted dropout keeps the mean activation (within 5 standard errors)",
             f"mean {outbig.mean():.5f}")
if torch is not None:
    torch.manual_seed(0)
    tx = torch.tensor(xd, requires_grad=True)
    tout = torch.nn.functional.dropout(tx, p, training=True)
    tout.backward(torch.tensor(Gd))
    tkeep = (tout != 0).detach().numpy()
    report.check_close("torch's kept values are x / (1 - p)", tout.detach().numpy(), xd * tkeep / (1 - p), 0.0,
                       ("torch dropout", "x * m / (1 - p)"))
    report.parity("dropout dx with torch's mask", ops.dropout_backward(Gd, tkeep / (1 - p)), tx.grad.numpy(), 0.0,
                       ("ops.dropout_backward", "torch autograd"))

fig = Figure(figsize=(12, 3.2))
axes = fig.subplots(1, 4)
for ax, a, title in zip(axes, (xd, keep * (1 / (1 - p)), Gd, dxd), ("x", "scaled mask m / (1 - p)", "upstream G", "dx = G · m / (1 - p)")):
    heatmap(ax, a, title, fontsize=8, ticks=False)
fig.suptitle(f"Inverted dropout, p = {p}: backward reuses the forward's mask")
report.figure(fig, "dropout", "Dropout forward and backward share one scaled mask.")

# %%
report_path = report.finish()  # the markdown report; its figures are beside it
