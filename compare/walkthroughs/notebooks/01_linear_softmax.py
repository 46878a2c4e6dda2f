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
# # Linear + softmax cross-entropy, every number on the table
#
# Three samples, four features, three classes. We run the forward pass of a linear layer and the
# softmax cross-entropy loss, then backpropagate by hand: $\partial L/\partial z = (p - \text{onehot})/N$,
# and from it dW, db and dx. Every number is computed here, then checked against `scratchnet.ops`, against
# finite differences and (when installed) against torch autograd.
#
# Run it with `python -m compare.walkthroughs linear_softmax`, or cell by cell as a notebook.

# %%
import numpy as np
from matplotlib.figure import Figure

from scratchnet import nn, ops
from scratchnet.gradcheck import numerical_gradient
from scratchnet.ops import naive
from compare.walkthroughs._report import Report, fmt, heatmap, optional_torch

report = Report("linear_softmax", "Linear + softmax cross-entropy, every number on the table")
rng = np.random.default_rng(7)
N, D, K = 3, 4, 3  # samples, features, classes
x = np.round(rng.normal(size=(N, D)), 2)  # rounded so that the numbers are easy to follow by eye
W = np.round(rng.normal(scale=0.5, size=(K, D)), 2)
b = np.round(rng.normal(scale=0.1, size=K), 2)
y = np.array([0, 2, 1])
report.text(
    f"""
    A batch of N = {N} samples with D = {D} features each, a linear layer with K = {K} outputs (one score,
    or *logit*, per class), and the true classes y. The weight matrix has torch's layout, one row per
    class: W is (K, D), and the layer computes z = x W^T + b. Everything is float64.
    """
)
report.arrays(x=x, W=W, b=b, y=y)

# %% [markdown]
# ## Forward: logits
#
# $z_{n,k} = \sum_j x_{n,j} W_{k,j} + b_k$ — one dot product per (sample, class).

# %%
report.section("Forward 1: the logits z = x W^T + b")
z_loops = np.zeros((N, K))
for n in range(N):
    for k in range(K):
        z_loops[n, k] = sum(x[n, j] * W[k, j] for j in range(D)) + b[k]
z, lin_cache = ops.linear_forward(x, W, b)
terms = " + ".join(f"({fmt(x[0, j], 2)})({fmt(W[0, j], 2)})" for j in range(D))
report.text(
    f"""
    Each logit is a dot product of a sample with one row of W, plus that class's bias. For sample 0 and
    class 0:

    z[0, 0] = {terms} + ({fmt(b[0], 2)}) = **{fmt(z_loops[0, 0])}**
    """
)
report.arrays(z=z_loops)
report.check_close("logits z", z_loops, z, 1e-13, ("loops", "ops.linear_forward"))

# %% [markdown]
# ## Forward: probabilities and loss
#
# softmax turns each row of logits into probabilities: $p_{n,k} = e^{z_{n,k}} / \sum_j e^{z_{n,j}}$.
# Subtracting the row maximum first changes nothing (it cancels) but keeps exp from overflowing.
# The loss is the mean negative log-probability of the true class: $L = -\frac1N \sum_n \log p_{n,y_n}$.

# %%
report.section("Forward 2: softmax probabilities and the loss")
shifted = z - z.max(axis=1, keepdims=True)
e = np.exp(shifted)
p = e / e.sum(axis=1, keepdims=True)
rows = []
for n in range(N):
    rows.append([str(n), str(y[n])] + [fmt(v) for v in z[n]] + [fmt(v) for v in p[n]] + [fmt(-np.log(p[n, y[n]]))])
report.text(
    """
    The softmax of a row is p_k = exp(z_k - m) / sum_j exp(z_j - m) with m = max_j z_j; subtracting m
    cancels between numerator and denominator, and keeps exp from overflowing for large logits.
    The loss of sample n is -log p[n, y_n]: small when the true class gets most of the probability.
    """
)
report.table(
    ["n", "y", *[f"z[n,{k}]" for k in range(K)], *[f"p[n,{k}]" for k in range(K)], "-log p[n, y_n]"], rows
)
loss_by_hand = float(np.mean(-np.log(p[np.arange(N), y])))
loss_ops, dz_ops = ops.softmax_cross_entropy(z, y)
loss_naive, dz_naive = naive.softmax_cross_entropy_naive(z, y)
report.text(f"The mean over the batch: L = **{fmt(loss_by_hand, 6)}**.")
report.claim(np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-14), "each row of p sums to 1")
report.check_close("loss L", loss_by_hand, loss_ops, 1e-13, ("by hand", "ops.softmax_cross_entropy"))
report.parity("loss L", loss_by_hand, loss_naive, 1e-13, ("by hand", "naive twin"))

# %% [markdown]
# ## Backward 1: dL/dz = (p - onehot) / N
#
# For one sample, $L_n = -z_y + \log \sum_j e^{z_j}$. Differentiate with respect to $z_k$:
# $\frac{\partial}{\partial z_k} \log \sum_j e^{z_j} = e^{z_k} / \sum_j e^{z_j} = p_k$, and
# $\partial(-z_y)/\partial z_k = -1$ if $k = y$, else 0. So $\partial L_n/\partial z_k = p_k - [k = y]$;
# the mean over N samples divides by N.

# %%
report.section("Backward 1: the gradient of the loss with respect to the logits")
report.text(
    """
    Write the loss of one sample as L_n = -z_{n,y_n} + log sum_j exp(z_{n,j}). Its derivative with
    respect to the logit z_{n,k} has two parts: the log-sum-exp gives exp(z_{n,k}) / sum_j exp(z_{n,j}),
    which is p_{n,k}; the first term gives -1 when k is the true class and 0 otherwise. The batch loss
    is the mean, so each sample's gradient is divided by N:
    """
)
report.math(r"\frac{\partial L}{\partial z_{n,k}} = \frac{1}{N}\left(p_{n,k} - [k = y_n]\right)")
onehot = np.zeros((N, K))
onehot[np.arange(N), y] = 1.0
dz = (p - onehot) / N
report.arrays(p=p, onehot=onehot, **{"dL/dz = (p - onehot) / N": dz})
report.text(
    f"""
    Read it as a push on the scores: the true class's logit gets a negative gradient (gradient descent
    raises it), every other logit a positive one (descent lowers it), in proportion to the probability
    it stole. Sample 0's true class has p = {fmt(p[0, y[0]])}, so its gradient is
    ({fmt(p[0, y[0]])} - 1) / {N} = {fmt(dz[0, y[0]])}. Because p and onehot both sum to 1, **each row of
    dL/dz sums to 0**.
    """
)
report.claim(np.all(np.abs(dz.sum(axis=1)) < 1e-14), "each row of dL/dz sums to 0",
             f"largest |row sum| {np.abs(dz.sum(axis=1)).max():.1e}")
report.check_close("dL/dz", dz, dz_ops, 1e-13, ("(p - onehot)/N", "ops.softmax_cross_entropy"))
report.parity("dL/dz", dz, dz_naive, 1e-13, ("(p - onehot)/N", "naive twin"))
z_probe = z.copy()
dz_numeric = numerical_gradient(lambda: ops.softmax_cross_entropy(z_probe, y)[0], z_probe, eps=1e-5)
report.parity("dL/dz", dz, dz_numeric, 1e-7, ("(p - onehot)/N", "centred differences"))

# %% [markdown]
# ## Backward 2: through the linear layer
#
# $z_{n,k} = \sum_j x_{n,j} W_{k,j} + b_k$. By the chain rule each parameter collects the gradient of
# every logit it touched: $dW_{k,j} = \sum_n dz_{n,k}\, x_{n,j}$ ($dW = dz^\top x$), $db_k = \sum_n dz_{n,k}$,
# $dx_{n,j} = \sum_k dz_{n,k} W_{k,j}$ ($dx = dz\, W$).

# %%
report.section("Backward 2: dW, db and dx through the linear layer")
report.text(
    """
    The chain rule says: the gradient of a quantity is the sum, over everything it influenced, of
    (gradient there) × (how strongly it influenced it). W[k, j] appears in z[n, k] for every sample n,
    multiplied by x[n, j]; b[k] appears in every z[n, k] with factor 1; x[n, j] appears in z[n, k] for
    every class k, multiplied by W[k, j]. So:
    """
)
report.math(
    r"""
\frac{\partial L}{\partial W_{k,j}} = \sum_n \frac{\partial L}{\partial z_{n,k}}\, x_{n,j}, \qquad
\frac{\partial L}{\partial b_k} = \sum_n \frac{\partial L}{\partial z_{n,k}}, \qquad
\frac{\partial L}{\partial x_{n,j}} = \sum_k \frac{\partial L}{\partial z_{n,k}}\, W_{k,j}
"""
)
report.text("In matrix form: dW = dz^T x (K × D, like W), db = the column sums of dz, dx = dz W (N × D, like x).")
dW_loops = np.zeros_like(W)
for k in range(K):
    for j in range(D):
        dW_loops[k, j] = sum(dz[n, k] * x[n, j] for n in range(N))
db_loops = np.array([sum(dz[n, k] for n in range(N)) for k in range(K)])
dx_loops = np.array([[sum(dz[n, k] * W[k, j] for k in range(K)) for j in range(D)] for n in range(N)])
k0, j0 = 0, 1
terms = " + ".join(f"({fmt(dz[n, k0])})({fmt(x[n, j0], 2)})" for n in range(N))
report.text(f"One entry written out: dW[{k0}, {j0}] = {terms} = **{fmt(dW_loops[k0, j0])}**.")
report.arrays(dW=dW_loops, db=db_loops, dx=dx_loops)
dx_ops, dW_ops, db_ops = ops.linear_backward(dz, lin_cache)
report.check_close("dW", dW_loops, dW_ops, 1e-13, ("by hand", "scratchnet.ops"))
report.check_close("db", db_loops, db_ops, 1e-13, ("by hand", "scratchnet.ops"))
report.check_close("dx", dx_loops, dx_ops, 1e-13, ("by hand", "scratchnet.ops"))
report.claim(abs(db_loops.sum()) < 1e-14, "db sums to 0 (the columns of a matrix whose rows sum to 0)",
             f"sum {db_loops.sum():.1e}")

fig = Figure(figsize=(14, 3.4))
axes = fig.subplots(1, 5, gridspec_kw={"width_ratios": [3, 3, 3, 4, 4], "wspace": 0.35})
for ax, a, title, (xlabel, ylabel) in zip(
    axes, (p, onehot, dz, dW_loops, dx_loops),
    ("p = softmax(z)", "onehot(y)", "dL/dz = (p - onehot)/N", "dW = dzᵀ x", "dx = dz W"),
    [("class k", "sample n")] * 3 + [("feature j", "class k"), ("feature j", "sample n")],
):
    heatmap(ax, a, title, digits=3, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
fig.suptitle("Backward through softmax cross-entropy and a linear layer: every number of the gradient")
report.figure(fig, "gradients", "The probabilities, the one-hot targets, and the gradients they produce.")

# %% [markdown]
# ## The same numbers three more ways: finite differences, torch autograd, nn modules

# %%
report.section("Checked three more ways")
report.text(
    """
    *Finite differences* nudge one number at a time and watch the loss: (L(v + ε) - L(v - ε)) / (2ε)
    approximates dL/dv with an error of order ε² (walkthrough `gradient_checking` explores this). We nudge
    every entry of W, b and x. *torch autograd* builds the same computation and differentiates it
    automatically. *scratchnet.nn* runs the layer and loss as modules: `loss = crit(lin(x), y)`,
    `lin.backward(crit.backward())`.
    """
)
W_, b_, x_ = W.copy(), b.copy(), x.copy()


def loss_of_current_values() -> float:
    return ops.softmax_cross_entropy(x_ @ W_.T + b_, y)[0]


for label, arr, analytic in (("dW", W_, dW_loops), ("db", b_, db_loops), ("dx", x_, dx_loops)):
    numeric = numerical_gradient(loss_of_current_values, arr, eps=1e-5)
    report.parity(label, analytic, numeric, 1e-7, ("by hand", "centred differences"))

lin = nn.Linear(D, K, dtype=np.float64, rng=0)
lin.weight.data[...] = W
lin.bias.data[...] = b
crit = nn.CrossEntropyLoss()
loss_nn = crit(lin(x), y)
dx_nn = lin.backward(crit.backward())
report.check_close("loss", loss_by_hand, loss_nn, 1e-13, ("by hand", "nn.Linear + nn.CrossEntropyLoss"))
report.check_close("dW", dW_loops, lin.weight.grad, 1e-13, ("by hand", "nn.Linear.weight.grad"))
report.check_close("dx", dx_loops, dx_nn, 1e-13, ("by hand", "nn.Linear.backward"))

torch = optional_torch()
if torch is None:
    report.note_skip("torch autograd comparison (torch is not installed)")
else:
    tx = torch.tensor(x, requires_grad=True)
    tW = torch.tensor(W, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    tz = tx @ tW.T + tb
    tz.retain_grad()
    tloss = torch.nn.functional.cross_entropy(tz, torch.tensor(y))
    tloss.backward()
    report.parity("loss", loss_by_hand, tloss.item(), 1e-13, ("by hand", "torch"))
    report.parity("dL/dz", dz, tz.grad.numpy(), 1e-13, ("by hand", "torch autograd"))
    report.parity("dW", dW_loops, tW.grad.numpy(), 1e-13, ("by hand", "torch autograd"))
    report.parity("db", db_loops, tb.grad.numpy(), 1e-13, ("by hand", "torch autograd"))
    report.parity("dx", dx_loops, tx.grad.numpy(), 1e-13, ("by hand", "torch autograd"))

# %% [markdown]
# ## What one gradient step does

# %%
report.section("One step of gradient descent")
lr = 0.5
W_new, b_new = W - lr * dW_loops, b - lr * db_loops
loss_new = ops.softmax_cross_entropy(x @ W_new.T + b_new, y)[0]
report.text(
    f"""
    Moving W and b a little against their gradients (learning rate {lr}) lowers the loss from
    {fmt(loss_by_hand, 6)} to {fmt(loss_new, 6)}. To first order the change is
    -lr · (‖dW‖² + ‖db‖²) = {fmt(-lr * (np.sum(dW_loops**2) + np.sum(db_loops**2)), 6)};
    the actual change is {fmt(loss_new - loss_by_hand, 6)}.
    """
)
report.claim(loss_new < loss_by_hand, "a gradient step lowers the loss", f"{fmt(loss_by_hand)} -> {fmt(loss_new)}")

# %%
report_path = report.finish()  # the markdown report; its figures are beside it
