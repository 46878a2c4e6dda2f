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
# # A two-layer MLP, backpropagated by hand: 2-D spirals, then MNIST
#
# x → Linear → ReLU → Linear → softmax cross-entropy, with every gradient written out as one line of
# NumPy. First on three interleaved spirals in the plane, where a linear classifier cannot do better
# than about half and one hidden layer separates them; then the very same code on MNIST digits.

# %%
import numpy as np
from matplotlib.figure import Figure

from scratchnet import nn
from scratchnet.data import load_mnist_split, to_float
from scratchnet.gradcheck import numerical_gradient, rel_error
from compare.walkthroughs._report import Report, fmt, mnist_dir, optional_torch, quick

report = Report("mlp_by_hand", "A two-layer MLP, backpropagated by hand: 2-D spirals, then MNIST")
torch = optional_torch()


def mlp_forward(x, W1, b1, W2, b2):
    """scores of the two-layer MLP, and what backward needs."""
    h_pre = x @ W1.T + b1  # (N, H)
    h = np.maximum(h_pre, 0.0)  # ReLU
    scores = h @ W2.T + b2  # (N, K)
    return scores, (x, h_pre, h)


def softmax_ce(scores, y):
    """mean cross-entropy and dL/dscores = (p - onehot) / N."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(y)
    dscores = np.exp(logp)
    dscores[np.arange(n), y] -= 1.0
    return float(-logp[np.arange(n), y].mean()), dscores / n


def mlp_backward(dscores, cache, W1, W2):
    """Every gradient of the MLP, one chain-rule line each."""
    x, h_pre, h = cache
    dW2 = dscores.T @ h  # scores = h W2ᵀ + b2  →  dW2 = dscoresᵀ h
    db2 = dscores.sum(axis=0)  #                      db2 = column sums
    dh = dscores @ W2  #                              dh = dscores W2
    dh_pre = dh * (h_pre > 0)  # ReLU: pass where the input was positive
    dW1 = dh_pre.T @ x
    db1 = dh_pre.sum(axis=0)
    dx = dh_pre @ W1
    return dW1, db1, dW2, db2, dx


def init_mlp(d_in, hidden, k, rng):
    """Kaiming-normal weights for the ReLU layer (see the softmax_and_init walkthrough), zero biases."""
    return (rng.normal(scale=np.sqrt(2.0 / d_in), size=(hidden, d_in)), np.zeros(hidden),
            rng.normal(scale=np.sqrt(1.0 / hidden), size=(k, hidden)), np.zeros(k))


# %% [markdown]
# ## The data: three spirals
#
# 100 points per class, each class a noisy spiral arm around the origin (CS231n's toy data set).

# %%
report.section("Three spirals, and the equations of backward")
rng = np.random.default_rng(0)
K, PER = 3, 100
X = np.zeros((K * PER, 2))
Y = np.repeat(np.arange(K), PER)
for k in range(K):
    r = np.linspace(0.0, 1.0, PER)
    t = np.linspace(k * 4.0, (k + 1) * 4.0, PER) + rng.normal(scale=0.2, size=PER)
    X[k * PER : (k + 1) * PER] = np.c_[r * np.sin(t), r * np.cos(t)]
report.text(
    f"""
    {K * PER} points in the plane, {PER} per class. The network: h = ReLU(x W1ᵀ + b1) with H hidden units,
    scores = h W2ᵀ + b2, loss = mean softmax cross-entropy. Backward is the chain rule applied to each line
    of the forward, last line first (the `linear_softmax` walkthrough derives the first two rows):
    """
)
report.math(
    r"""
\begin{aligned}
\frac{\partial L}{\partial s} &= \tfrac{1}{N}(p - Y), &
\frac{\partial L}{\partial W_2} &= \Big(\frac{\partial L}{\partial s}\Big)^{\!\top} h, &
\frac{\partial L}{\partial h} &= \frac{\partial L}{\partial s}\, W_2, \\
\frac{\partial L}{\partial h_{\text{pre}}} &= \frac{\partial L}{\partial h} \odot [h_{\text{pre}} > 0], &
\frac{\partial L}{\partial W_1} &= \Big(\frac{\partial L}{\partial h_{\text{pre}}}\Big)^{\!\top} x, &
\frac{\partial L}{\partial b_i} &= \text{column sums of the gradient of the layer's output}
\end{aligned}
"""
)
W1, b1, W2, b2 = init_mlp(2, 50, K, np.random.default_rng(1))
x64 = X[30:50].copy()  # away from the origin, where every ReLU input would be b1 = 0: a kink
scores, cache = mlp_forward(x64, W1, b1, W2, b2)
loss0, dscores = softmax_ce(scores, Y[30:50])
grads = mlp_backward(dscores, cache, W1, W2)
params = {"W1": W1.copy(), "b1": b1.copy(), "W2": W2.copy(), "b2": b2.copy(), "x": x64}
errors = {}
for (name, arr), g in zip(params.items(), grads):
    def loss_now():
        return softmax_ce(mlp_forward(params["x"], params["W1"], params["b1"], params["W2"], params["b2"])[0], Y[30:50])[0]

    errors[name] = rel_error(g, numerical_gradient(loss_now, arr, eps=1e-6))
report.text("Each of the five gradients against centred differences of the loss (float64, 20 points):")
report.table(["gradient", "relative error"], [[k, f"{v:.1e}"] for k, v in errors.items()])
report.claim(max(errors.values()) < 1e-7, "every hand-written gradient agrees with finite differences to < 1e-7",
             f"worst {max(errors.values()):.1e}")
if torch is None:
    report.note_skip("torch autograd comparison (torch is not installed)")
else:
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    t_scores = torch.relu(t["x"] @ t["W1"].T + t["b1"]) @ t["W2"].T + t["b2"]
    torch.nn.functional.cross_entropy(t_scores, torch.tensor(Y[30:50])).backward()
    for (name, tensor), g in zip(t.items(), grads):
        report.parity(f"d{name}", g, tensor.grad.numpy(), 1e-12, ("by hand", "torch autograd"))

# %% [markdown]
# ## Training: a linear classifier against the MLP

# %%
report.section("Gradient descent on the spirals: linear classifier vs MLP")
STEPS, LR = (600 if quick() else 3000), 1.0  # quick: a CI run that only checks the notebook works


def train_spiral(hidden):
    """Full-batch gradient descent; hidden=0 is the linear softmax classifier."""
    r = np.random.default_rng(2)
    if hidden:
        W1, b1, W2, b2 = init_mlp(2, hidden, K, r)
    else:
        Wl, bl = r.normal(scale=0.01, size=(K, 2)), np.zeros(K)
    losses = []
    for _ in range(STEPS):
        if hidden:
            scores, cache = mlp_forward(X, W1, b1, W2, b2)
            loss, ds = softmax_ce(scores, Y)
            dW1, db1, dW2, db2, _ = mlp_backward(ds, cache, W1, W2)
            W1 -= LR * dW1
            b1 -= LR * db1
            W2 -= LR * dW2
            b2 -= LR * db2
        else:
            loss, ds = softmax_ce(X @ Wl.T + bl, Y)
            Wl -= LR * (ds.T @ X)
            bl -= LR * ds.sum(axis=0)
        losses.append(loss)
    predict = (lambda P: mlp_forward(P, W1, b1, W2, b2)[0]) if hidden else (lambda P: P @ Wl.T + bl)
    return np.array(losses), predict


lin_losses, lin_predict = train_spiral(0)
mlp_losses, mlp_predict = train_spiral(100)
lin_acc = float(np.mean(lin_predict(X).argmax(1) == Y))
mlp_acc = float(np.mean(mlp_predict(X).argmax(1) == Y))
report.text(
    f"""
    {STEPS} steps of full-batch gradient descent, lr = {LR:g}, from the same seed. The linear classifier
    ends at loss {fmt(lin_losses[-1])} and training accuracy **{lin_acc:.0%}**: three straight lines through
    the plane cannot follow a spiral. The MLP with 100 ReLU units ends at loss {fmt(mlp_losses[-1])} and
    accuracy **{mlp_acc:.0%}**: each ReLU unit contributes one fold along a line, and 100 folds are enough
    to bend the decision boundary around the arms.
    """
)
report.claim(lin_acc < 0.65, "a linear classifier cannot separate the spirals", f"{lin_acc:.1%}")
report.claim(mlp_acc > (0.8 if quick() else 0.95), "the two-layer MLP separates them", f"{mlp_acc:.1%}")
report.claim(np.all(np.diff(mlp_losses[:200]) < 1e-3), "the MLP's loss falls steadily over the first 200 steps")

grid = np.linspace(-1.2, 1.2, 240)
gx, gy = np.meshgrid(grid, grid)
pts = np.c_[gx.ravel(), gy.ravel()]
fig = Figure(figsize=(13, 4))
axes = fig.subplots(1, 3, gridspec_kw={"wspace": 0.3})
for ax, predict, title in ((axes[0], lin_predict, f"linear softmax: {lin_acc:.0%}"),
                           (axes[1], mlp_predict, f"MLP, 100 ReLU units: {mlp_acc:.0%}")):
    ax.contourf(gx, gy, predict(pts).argmax(1).reshape(gx.shape), levels=[-0.5, 0.5, 1.5, 2.5], cmap="Pastel1", alpha=0.9)
    ax.scatter(X[:, 0], X[:, 1], c=Y, cmap="Set1", s=8, vmin=0, vmax=8)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
axes[2].semilogy(lin_losses, label="linear")
axes[2].semilogy(mlp_losses, label="MLP")
axes[2].set_xlabel("step")
axes[2].set_ylabel("training loss")
axes[2].legend()
axes[2].grid(alpha=0.3)
fig.suptitle("Three spirals: decision regions after training, and the loss per step")
report.figure(fig, "spirals", "Decision regions of the linear classifier and of the MLP on the spirals, and their training losses.")

# %% [markdown]
# ## The same code on MNIST

# %%
report.section("The same functions on MNIST")
directory = mnist_dir("train")
if directory is None or mnist_dir("test") is None:
    report.note_skip("the MNIST part: MNIST was not found (set MNIST_DIR, or open the notebook to download it)")
else:
    train, test = load_mnist_split(directory, "train", download=False), load_mnist_split(mnist_dir("test"), "test", download=False)
    n_train, n_test = (10000, 2000) if quick() else (len(train.labels), len(test.labels))
    xtr = to_float(train.images[:n_train]).reshape(n_train, -1)  # float32 storage; the weights are float64
    xte = to_float(test.images[:n_test]).reshape(n_test, -1)
    ytr, yte = train.labels[:n_train], test.labels[:n_test]
    MN_STEPS = 300 if quick() else 3000
    BATCH, MN_LR, HIDDEN = 64, 0.1, 128
    r = np.random.default_rng(3)
    W1, b1, W2, b2 = init_mlp(784, HIDDEN, 10, r)

    # one step, checked against scratchnet.nn: the same MLP as modules
    net = nn.Sequential(nn.Linear(784, HIDDEN, dtype=np.float64, rng=0), nn.ReLU(), nn.Linear(HIDDEN, 10, dtype=np.float64, rng=0))
    for p_, v in zip(net.parameters(), (W1, b1, W2, b2)):
        p_.data[...] = v
    crit = nn.CrossEntropyLoss()
    xb, yb = xtr[:BATCH].astype(np.float64), ytr[:BATCH]
    scores, cache = mlp_forward(xb, W1, b1, W2, b2)
    loss_hand, ds = softmax_ce(scores, yb)
    hand = mlp_backward(ds, cache, W1, W2)[:4]
    net.zero_grad()
    loss_nn = crit(net(xb), yb)
    net.backward(crit.backward())
    for name, g, p_ in zip(("W1", "b1", "W2", "b2"), hand, net.parameters()):
        report.parity(f"d{name} on an MNIST batch", g, p_.grad, 1e-12, ("by hand", "scratchnet.nn"))
    report.check_close("initial loss", loss_hand, loss_nn, 1e-12, ("by hand", "scratchnet.nn"))

    losses = []
    for step in range(MN_STEPS):
        idx = r.integers(0, len(ytr), BATCH)
        scores, cache = mlp_forward(xtr[idx], W1, b1, W2, b2)
        loss, ds = softmax_ce(scores, ytr[idx])
        dW1, db1, dW2, db2, _ = mlp_backward(ds, cache, W1, W2)
        for p_, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
            p_ -= MN_LR * g
        losses.append(loss)
    test_acc = float(np.mean(mlp_forward(xte, W1, b1, W2, b2)[0].argmax(1) == yte))
    report.text(
        f"""
        784 pixels in (scaled to [0, 1]), {HIDDEN} ReLU units, 10 classes; {MN_STEPS} steps of SGD on random
        batches of {BATCH}, lr = {MN_LR:g} — the same four functions as on the spirals, nothing else. The
        hand-written gradients equal `scratchnet.nn`'s (Linear, ReLU, Linear, CrossEntropyLoss) on an MNIST
        batch (appendix). The first loss is {fmt(losses[0])} (ln 10 = {fmt(np.log(10))} for a guess spread
        evenly over ten classes); the mean loss over the last 100 steps is {fmt(np.mean(losses[-100:]))};
        accuracy on the {len(yte):,} test digits: **{test_acc:.2%}**.
        """
    )
    report.claim(test_acc > (0.85 if quick() else 0.95), "the hand-written MLP learns MNIST", f"test accuracy {test_acc:.2%}")
    fig = Figure(figsize=(13, 3.9))
    ax_loss = fig.add_subplot(1, 3, 1)
    smooth = np.convolve(losses, np.ones(20) / 20, mode="valid")
    ax_loss.plot(losses, alpha=0.3, lw=0.7)
    ax_loss.plot(np.arange(19, MN_STEPS), smooth, lw=1.5)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("batch loss")
    ax_loss.set_title(f"MNIST MLP: test accuracy {test_acc:.1%}", fontsize=10)
    ax_loss.grid(alpha=0.3)
    fig.subplots_adjust(top=0.82)  # room between the panel's title and the figure's
    grid_axes = fig.add_gridspec(2, 8, left=0.4, right=0.98, top=0.82, wspace=0.05, hspace=0.1)
    for i in range(16):
        ax = fig.add_subplot(grid_axes[i // 8, i % 8])
        w_img = W1[i].reshape(28, 28)
        ax.imshow(w_img, cmap="RdBu_r", vmin=-np.abs(w_img).max(), vmax=np.abs(w_img).max())
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Left: batch loss per step (light) and its 20-step mean. Right: 16 rows of W1 seen as 28×28 images")
    report.figure(fig, "mnist", "The hand-written MLP on MNIST: its loss while training, and what 16 of its hidden units look for.")

# %%
report_path = report.finish()  # the markdown report; its figures are beside it
