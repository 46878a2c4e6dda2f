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
# # Conv2d: a sliding window forward, a correlation and a full convolution backward
#
# The forward pass of a convolution slides a small filter over the image. Its backward pass is made
# of the same operation twice: the weight gradient is the input *correlated* with the upstream
# gradient, and the input gradient is the upstream gradient *fully convolved* with the flipped filter.
# im2col turns all three into matrix products. Each is computed two ways here and checked against
# `scratchnet.ops.conv2d_forward/backward`, finite differences and torch.

# %%
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from scratchnet import ops
from scratchnet.gradcheck import numerical_gradient
from scratchnet.ops import naive
from compare.walkthroughs._report import Report, fmt, heatmap, optional_torch

report = Report("conv2d", "Conv2d: a sliding window forward, a correlation and a full convolution backward")
rng = np.random.default_rng(3)
ROUND_OFF = 1e-12  # two float64 computations of the same sums, in different orders
FD_TOL = 1e-7  # centred differences (CS231n: < 1e-7 is good)


def correlate_valid(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """out[y, x] = sum_{i, j} a[y + i, x + j] * k[i, j]: slide k over a, no padding, stride 1."""
    kh, kw = k.shape
    oh, ow = a.shape[0] - kh + 1, a.shape[1] - kw + 1
    out = np.zeros((oh, ow))
    for yy in range(oh):
        for xx in range(ow):
            out[yy, xx] = np.sum(a[yy : yy + kh, xx : xx + kw] * k)
    return out


def dilate(g: np.ndarray, s: int) -> np.ndarray:
    """Put s - 1 zeros between neighbouring entries of a 2-D array (stride s undone)."""
    out = np.zeros(((g.shape[0] - 1) * s + 1, (g.shape[1] - 1) * s + 1))
    out[::s, ::s] = g
    return out


# %% [markdown]
# ## Forward: a sliding window
#
# $\text{out}_{y,x} = b + \sum_{i,j} w_{i,j}\, x_{y+i,\,x+j}$: put the 3×3 filter on the image at (y, x),
# multiply element by element, add up. (This is a *cross-correlation*; deep-learning libraries call
# it convolution.)

# %%
report.section("Forward: a sliding window")
x = np.round(rng.normal(size=(1, 1, 5, 5)), 1)
w = np.round(rng.normal(size=(1, 1, 3, 3)), 1)
b = np.array([0.5])
out_hand = np.zeros((1, 1, 3, 3))
for yy in range(3):
    for xx in range(3):
        out_hand[0, 0, yy, xx] = np.sum(x[0, 0, yy : yy + 3, xx : xx + 3] * w[0, 0]) + b[0]
report.text(
    """
    One image (N = 1) with one channel, 5 × 5, and one 3 × 3 filter with bias b = 0.5; stride 1, no
    padding, so the filter fits in 5 - 3 + 1 = 3 positions along each axis and the output is 3 × 3.
    """
)
report.math(r"\mathrm{out}[y, x] = b + \sum_{i=0}^{2}\sum_{j=0}^{2} w[i, j]\; x[y + i, x + j]")
report.arrays(digits=2, x=x[0, 0], w=w[0, 0])
window = x[0, 0, 1:4, 2:5]
report.text(
    f"""
    For out[1, 2] the filter sits on rows 1..3 and columns 2..4 of x. Multiply that window by w
    element by element and add up: sum(window × w) + b = {fmt(np.sum(window * w[0, 0]))} + 0.5 =
    **{fmt(out_hand[0, 0, 1, 2])}**.
    """
)
report.arrays(digits=2, **{"window = x[1:4, 2:5]": window, "window * w": window * w[0, 0]})
report.arrays(out=out_hand[0, 0])
out_ops, cache = ops.conv2d_forward(x, w, b)
report.check_close("forward", out_hand, out_ops, ROUND_OFF, ("sliding window", "ops.conv2d_forward"))
report.parity("forward", out_hand, naive.conv2d_forward_naive(x, w, b), ROUND_OFF, ("sliding window", "naive twin"))

# %% [markdown]
# ## Backward: the bias and the weights
#
# Take any upstream gradient $G = \partial L/\partial\,\text{out}$. Every output used the bias once, so
# $db = \sum G$. Weight $w_{i,j}$ multiplied $x_{y+i,\,x+j}$ in output (y, x), so
# $dw_{i,j} = \sum_{y,x} G_{y,x}\, x_{y+i,\,x+j}$: slide G over x — a correlation of the input with the
# upstream gradient.

# %%
report.section("Backward 1: db = sum of G, dW = x correlated with G")
G = np.round(rng.normal(size=(1, 1, 3, 3)), 1)
report.text(
    """
    Backpropagation hands the layer G = dL/dout, the gradient of the loss with respect to each output
    (here a made-up one, rounded to one decimal). The chain rule sums over every place a parameter
    was used. The bias was added to every output, so db = sum_{y,x} G[y, x]. The weight w[i, j] was
    multiplied by x[y + i, x + j] to make out[y, x], so
    """
)
report.math(r"\frac{\partial L}{\partial w[i, j]} = \sum_{y, x} G[y, x]\; x[y + i, x + j]")
report.text(
    """
    — which is the forward formula again, with G in the role of the filter: **dW is the input
    correlated with the upstream gradient** (a 3 × 3 result because G is 3 × 3 and x is 5 × 5).
    """
)
report.arrays(digits=2, G=G[0, 0])
db_hand = G.sum(axis=(0, 2, 3))
dw_hand = correlate_valid(x[0, 0], G[0, 0])[None, None]
dx_ops, dw_ops, db_ops = ops.conv2d_backward(G, cache)
report.arrays(**{"db = sum(G)": db_hand, "dW = correlate(x, G)": dw_hand[0, 0]})
report.check_close("db", db_hand, db_ops, ROUND_OFF, ("sum of G", "ops.conv2d_backward"))
report.check_close("dW", dw_hand, dw_ops, ROUND_OFF, ("correlate(x, G)", "ops.conv2d_backward"))

# %% [markdown]
# ## Backward: the input, two ways
#
# Scatter view: output (y, x) sends G[y, x] · w back onto the window it read. Gather view: input
# pixel (r, c) collects w[r - y, c - x] · G[y, x] from every output whose window covered it, which
# is a *full* convolution: pad G with 2 zeros on each side and slide the filter rotated by 180°.

# %%
report.section("Backward 2: dx, scattered and as a full convolution with the flipped filter")
dx_scatter = np.zeros_like(x)
for yy in range(3):
    for xx in range(3):
        dx_scatter[0, 0, yy : yy + 3, xx : xx + 3] += G[0, 0, yy, xx] * w[0, 0]
w_flipped = w[0, 0, ::-1, ::-1]
G_padded = np.pad(G[0, 0], 2)
dx_full = correlate_valid(G_padded, w_flipped)[None, None]
report.text(
    """
    **Scatter.** Output (y, x) read the window x[y:y+3, x:x+3] through w, so it sends G[y, x] · w back
    onto that window; overlapping windows add up. This is how `naive.conv2d_backward_naive` does it.

    **Gather.** Turn it around and ask what one input pixel x[r, c] receives: every output whose window
    covered it, through the weight that touched it,
    """
)
report.math(r"\frac{\partial L}{\partial x[r, c]} = \sum_{i, j} G[r - i, c - j]\; w[i, j] \qquad (G = 0 \text{ outside its } 3\times 3)")
report.text(
    """
    — a true convolution of G with w (indices subtracted, not added). As a correlation, that is G padded
    with kernel_size - 1 = 2 zeros on every side, correlated with **w rotated by 180°** (the *full*
    convolution: every overlap of the two, even by one pixel, gives an output, so 3 + 2 + 2 - 3 + 1 = 5
    rows: the shape of x).
    """
)
report.arrays(digits=2, **{"w rotated 180°": w_flipped, "G padded by 2": G_padded})
report.arrays(**{"dx (scatter)": dx_scatter[0, 0], "dx (full convolution)": dx_full[0, 0]})
report.check_close("dx", dx_scatter, dx_full, ROUND_OFF, ("scatter", "full convolution with flipped w"))
report.check_close("dx", dx_full, dx_ops, ROUND_OFF, ("full convolution", "ops.conv2d_backward"))
dx_n, dw_n, db_n = naive.conv2d_backward_naive(G, x, w)
report.parity("dx", dx_full, dx_n, ROUND_OFF, ("full convolution", "naive twin"))
report.parity("dW", dw_hand, dw_n, ROUND_OFF, ("correlate(x, G)", "naive twin"))

# The scalar s = sum(out * G) has gradient exactly dx, dW, db with respect to x, w, b.
x_, w_, b_ = x.copy(), w.copy(), b.copy()
s_of = lambda: float(np.sum(naive.conv2d_forward_naive(x_, w_, b_) * G))
for label, arr, analytic in (("dx", x_, dx_full), ("dW", w_, dw_hand), ("db", b_, db_hand)):
    report.parity(label, analytic, numerical_gradient(s_of, arr), FD_TOL, ("by hand", "centred differences"))

# %%
fig = Figure(figsize=(11, 7))
axes = fig.subplots(2, 3)
panels = [
    (x[0, 0], "input x (5×5)\nbox: the window of out[1, 2]"), (w[0, 0], "filter w (3×3)"), (out_hand[0, 0], "out = x ⋆ w + b"),
    (G[0, 0], "upstream G = dL/dout"), (dw_hand[0, 0], "dW = x ⋆ G  (correlation)"),
    (dx_full[0, 0], "dx = pad(G) ⋆ rot180(w)  (full conv.)"),
]
for ax, (a, title) in zip(axes.flat, panels):
    heatmap(ax, a, title)
axes[0, 0].add_patch(Rectangle((1.5, 0.5), 3, 3, fill=False, lw=2.5, color="black"))
axes[0, 2].add_patch(Rectangle((1.5, 0.5), 1, 1, fill=False, lw=2.5, color="black"))
fig.suptitle("One 3×3 filter on a 5×5 image: forward (top), backward (bottom); ⋆ = sliding-window correlation")
report.figure(fig, "tiny", "Forward and backward of a 5×5 convolution with a 3×3 filter, every number shown.")

# %% [markdown]
# ## im2col: the same convolution as one matrix product
#
# Unroll every window into a row of a matrix `cols` (one row per output position). With `w_flat` and
# `G_flat` as columns: forward $= \text{cols}\; w_\text{flat}$, $dW_\text{flat} = G_\text{flat}^\top\, \text{cols}$, and
# $d\,\text{cols} = G_\text{flat}\, w_\text{flat}^\top$,
# which col2im adds back onto the windows to give dx.

# %%
report.section("im2col: three matrix products")
cols = np.stack([x[0, 0, yy : yy + 3, xx : xx + 3].reshape(-1) for yy in range(3) for xx in range(3)])
w_flat = w.reshape(1, -1)
G_flat = G.reshape(-1)  # one entry per output position, same order as the rows of cols
out_i2c = (cols @ w_flat.T).reshape(1, 1, 3, 3) + b[0]
dw_i2c = (G_flat @ cols).reshape(w.shape)
dcols = np.outer(G_flat, w_flat)  # row p: G at position p times the filter
dx_i2c = np.zeros_like(x)
for row, (yy, xx) in enumerate((yy, xx) for yy in range(3) for xx in range(3)):
    dx_i2c[0, 0, yy : yy + 3, xx : xx + 3] += dcols[row].reshape(3, 3)  # col2im: add each row back
report.text(
    f"""
    Copy each of the 9 windows of x into one row of a matrix `cols` ({cols.shape[0]} × {cols.shape[1]}:
    one row per output position, one column per filter weight). Then the whole convolution is a matrix
    product, which is how fast libraries often compute it:

    - forward: out = cols · w_flat (+ b), a (9 × 9)(9 × 1) product;
    - weights: dW_flat = G_flatᵀ · cols — each weight collects G times the pixel it met in every window
      (the linear layer's dW = dzᵀ x, with windows as samples);
    - input: dcols = G_flat · w_flatᵀ (the linear layer's dx = dz W), then **col2im** adds each row of
      dcols back onto the window it came from — overlapping windows add up, which is the scatter view
      again.
    """
)
report.arrays(digits=2, cols=cols, w_flat=w_flat[0])
report.check_close("forward", out_i2c, out_hand, ROUND_OFF, ("im2col", "sliding window"))
report.parity("forward", out_i2c, naive.conv2d_im2col(x, w, b), ROUND_OFF, ("im2col", "naive.conv2d_im2col"))
report.check_close("dW", dw_i2c, dw_ops, ROUND_OFF, ("G_flat @ cols", "ops.conv2d_backward"))
report.check_close("dx", dx_i2c, dx_ops, ROUND_OFF, ("col2im(dcols)", "ops.conv2d_backward"))

fig = Figure(figsize=(8.5, 4.4))
ax_cols, ax_w, ax_out = fig.subplots(1, 3, gridspec_kw={"width_ratios": [9, 1.3, 1.3]})
heatmap(ax_cols, cols, "cols: row p = window p of x, unrolled", digits=1, fontsize=8)
ax_cols.set_ylabel("output position (y, x), row-major")
ax_cols.set_xlabel("filter entry (i, j), row-major")
for ax, a, title in ((ax_w, w_flat.T, "w_flat"), (ax_out, out_i2c.reshape(-1, 1), "cols·w + b")):
    heatmap(ax, a, title, fontsize=8)
    ax.set_xticks([])
fig.suptitle("im2col: the convolution as one matrix product")
report.figure(fig, "im2col", "im2col for the same 5×5 image: each row of cols is one window; the output is cols · w_flat + b.")

# %% [markdown]
# ## Many channels, stride and padding
#
# With channels, dW[f, c] correlates input channel c with G's channel f (summed over the batch) and
# dx[c] sums the full convolutions of every G[f] with w[f, c] flipped. A stride s skips positions, so
# backward first *dilates* G (puts s - 1 zeros between its entries), then does the same as before.

# %%
report.section("Channels, stride and padding: dilate G, then the same two rules")
report.text(
    """
    With C input channels, F filters and a batch, the same two rules hold channel by channel:
    dW[f, c] = sum over the batch of (x_pad[n, c] correlated with G[n, f]), and dx_pad[n, c] = sum over f
    of (G[n, f] fully convolved with w[f, c]). Padding adds zeros around x; the gradient that lands on
    those zeros is simply cut off. A stride s means the filter jumped s pixels between outputs; put
    s - 1 zeros between the entries of G (*dilate* it) and it lines up with the windows again. If the
    last windows do not reach the last rows or columns of the *padded* input, those get no gradient at
    all — when they are real input rows; with padding, the unreached row may be padding, whose gradient
    is cut off anyway (stride 2, pad 1 below: the one unreached row is the bottom padding row).
    """
)


def conv_backward_by_rules(G, x, w, s, p):
    """dW by correlation and dx by full convolution with the flipped filter, for stride s, padding p."""
    N, C, H, W = x.shape
    F, _, K, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dw = np.zeros_like(w)
    dxp = np.zeros_like(xp)
    for n in range(N):
        for f in range(F):
            g = dilate(G[n, f], s)
            for c in range(C):
                dw[f, c] += correlate_valid(xp[n, c], g)[:K, :K]  # extra rows past the last window: unused
                full = correlate_valid(np.pad(g, K - 1), w[f, c, ::-1, ::-1])
                dxp[n, c, : full.shape[0], : full.shape[1]] += full  # rows beyond: never read, gradient 0
    return dxp[:, :, p : p + H, p : p + W], dw, G.sum(axis=(0, 2, 3))


rows = []
torch = optional_torch()
for case, (N, C, F, H, K, s, p) in enumerate([(2, 2, 3, 6, 3, 1, 1), (2, 2, 3, 6, 3, 2, 1), (1, 3, 2, 6, 3, 2, 0)]):
    xc = rng.normal(size=(N, C, H, H))
    wc = rng.normal(size=(F, C, K, K))
    bc = rng.normal(size=F)
    out, cache_c = ops.conv2d_forward(xc, wc, bc, s, p)
    Gc = rng.normal(size=out.shape)
    dx_r, dw_r, db_r = conv_backward_by_rules(Gc, xc, wc, s, p)
    dx_o, dw_o, db_o = ops.conv2d_backward(Gc, cache_c)
    tag = f"N={N} C={C} F={F} {H}x{H} k={K} stride={s} pad={p}"
    report.check_close(f"forward [{tag}]", naive.conv2d_forward_naive(xc, wc, bc, s, p), out, ROUND_OFF, ("sliding window", "ops"))
    report.check_close(f"forward [{tag}]", naive.conv2d_im2col(xc, wc, bc, s, p), out, ROUND_OFF, ("im2col", "ops"))
    report.check_close(f"dW [{tag}]", dw_r, dw_o, ROUND_OFF, ("correlation with dilated G", "ops"))
    report.check_close(f"dx [{tag}]", dx_r, dx_o, ROUND_OFF, ("full conv. of dilated G", "ops"))
    report.check_close(f"db [{tag}]", db_r, db_o, ROUND_OFF, ("sum of G", "ops"))
    xc_, wc_ = xc.copy(), wc.copy()
    # (the forward is evaluated by im2col, just shown to equal ops.conv2d_forward: one matrix product each)
    def s_c(xc_=xc_, wc_=wc_, bc=bc, s=s, p=p, Gc=Gc) -> float:
        return float(np.sum(naive.conv2d_im2col(xc_, wc_, bc, s, p) * Gc))

    report.parity(f"dx [{tag}]", dx_r, numerical_gradient(s_c, xc_), FD_TOL, ("by the rules", "centred differences"))
    report.parity(f"dW [{tag}]", dw_r, numerical_gradient(s_c, wc_), FD_TOL, ("by the rules", "centred differences"))
    if torch is not None:
        tx = torch.tensor(xc, requires_grad=True)
        tw = torch.tensor(wc, requires_grad=True)
        tb = torch.tensor(bc, requires_grad=True)
        tout = torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p)
        tout.backward(torch.tensor(Gc))
        report.parity(f"forward [{tag}]", out, tout.detach().numpy(), ROUND_OFF, ("ops", "torch"))
        for label, ours, theirs in (("dx", dx_r, tx.grad), ("dW", dw_r, tw.grad), ("db", db_r, tb.grad)):
            report.parity(f"{label} [{tag}]", ours, theirs.numpy(), ROUND_OFF, ("by the rules", "torch autograd"))
    untouched = (H + 2 * p - K) % s  # padded rows/columns after the last window
    real = max(0, untouched - p)  # of them, rows of the input itself (the last p padded rows are padding)
    rows.append([tag, f"{out.shape[2]}x{out.shape[3]}", str(untouched), str(real)])
    if real:
        report.claim(
            np.all(dx_o[:, :, -real:, :] == 0) and np.all(dx_o[:, :, :, -real:] == 0),
            f"[{tag}] the last {real} input row/column, which no window reaches, gets exactly zero gradient",
        )
    elif untouched:
        report.claim(
            np.all(dx_o[:, :, -1, :] != 0) and np.all(dx_o[:, :, :, -1] != 0),
            f"[{tag}] the unreached row/column is padding: every real input row, the last included, gets gradient",
        )
if torch is None:
    report.note_skip("torch autograd comparison (torch is not installed)")
report.table(["case", "output", "padded rows/cols no window reaches", "of them real input"], rows)

# %%
report_path = report.finish()  # the markdown report; its figures are beside it
