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
# # Training a CNN on MNIST, with the sanity checks practitioners use
#
# The whole loop — batches, forward, loss, backward, Adam — for SeedCNN on MNIST, preceded by the three
# checks to run before trusting any training: the initial loss is ln 10, the network can overfit 20
# images, and each update is about a thousandth of its weight. Then what the trained network shows:
# learning curves, the confusion matrix, the learned conv1 filters, feature maps, and a saliency map
# (the gradient of the loss with respect to the input pixels).

# %%
import numpy as np
from matplotlib.figure import Figure

from scratchnet import models, optim
from scratchnet.data import epoch_order, load_mnist_split, normalize
from scratchnet.metrics import accuracy, confusion_matrix
from compare.walkthroughs._report import Report, fmt, heatmap, mnist_dir, optional_torch, quick

report = Report("training_mnist", "Training a CNN on MNIST, with the sanity checks practitioners use")
torch = optional_torch()
EPOCHS = 0.8 if quick() else 2  # quick: a CI run that only checks the notebook works (the report says so)
BATCH, LR = 64, 1e-3


def synthetic_digits(n, rng):
    """A stand-in for MNIST when it cannot be found: ten fixed random patterns in the centre, faint noise."""
    templates = np.zeros((10, 28, 28), dtype=bool)
    templates[:, 8:20, 8:20] = np.random.default_rng(123).random((10, 12, 12)) > 0.7
    labels = rng.integers(0, 10, n)
    images = (templates[labels] * 220 + rng.random((n, 28, 28)) * 20).astype(np.uint8)
    return images, labels


# %% [markdown]
# ## The data

# %%
report.section("The data")
train_dir, test_dir = mnist_dir("train"), mnist_dir("test")
if train_dir is not None and test_dir is not None:
    train, test = load_mnist_split(train_dir, "train", download=False), load_mnist_split(test_dir, "test", download=False)
    n_train, n_test = (6000, 2000) if quick() else (len(train.labels), len(test.labels))
    x_train, y_train = normalize(train.images[:n_train]), train.labels[:n_train]
    x_test, y_test = normalize(test.images[:n_test]), test.labels[:n_test]
    real = True
    report.text(
        f"""
        MNIST, read by `scratchnet.data`: {len(y_train):,} training and {len(y_test):,} test images, scaled to
        [0, 1] and normalised with MNIST's mean and standard deviation (0.1307, 0.3081). Accuracy is always
        measured on the test images, never on the ones trained on.
        """
    )
else:
    r = np.random.default_rng(0)
    (tr_i, y_train), (te_i, y_test) = synthetic_digits(6000, r), synthetic_digits(1000, r)
    x_train, x_test = normalize(tr_i), normalize(te_i)
    real = False
    report.text(
        """
        **MNIST was not found (set `MNIST_DIR`, or open the notebook, which downloads it), so this run uses
        a synthetic stand-in: ten random stroke patterns with noise. The mechanics below are the same; the
        numbers are not MNIST's.**
        """
    )

# %% [markdown]
# ## Sanity check 1: the initial loss is ln 10
#
# A freshly initialised network has small logits, so its softmax is close to uniform: p ≈ 1/10 for
# every class, and the cross-entropy -log p_y ≈ ln 10 ≈ 2.303. A very different first loss means the
# loss, the labels or the initialisation is wrong.

# %%
report.section("Sanity check 1: the initial loss is ln 10")
model = models.SeedCNN(rng=0)
crit = model.make_loss()
model.eval()
loss0 = crit(model(x_train[:1000]), y_train[:1000])
crit.backward()  # leave no forward half-used
model.train()
report.text(
    f"""
    The untrained SeedCNN on 1,000 training images: loss **{fmt(loss0)}**, against ln 10 = {fmt(np.log(10))}.
    """
)
report.claim(abs(loss0 - np.log(10)) < 0.15, "the initial loss is within 0.15 of ln 10", f"{fmt(loss0)}")

# %% [markdown]
# ## Sanity check 2: overfit 20 images
#
# A network with thousands of parameters must be able to memorise 20 images. If it cannot drive their
# loss to nearly 0, something in the forward, the backward or the update is broken — and 20 images
# show it in a second, not after an hour of training.

# %%
report.section("Sanity check 2: the network can overfit 20 images")
tiny = models.SeedCNN(rng=1)
tiny_crit = tiny.make_loss()
tiny_opt = optim.Adam(tiny.parameters(), lr=3e-3)
x20, y20 = x_train[:20], y_train[:20]
tiny_losses = []
OVERFIT_STEPS = 120 if quick() else 300
for _ in range(OVERFIT_STEPS):
    tiny_losses.append(tiny_crit(tiny(x20), y20))
    tiny_opt.zero_grad()
    tiny.backward(tiny_crit.backward(), input_grad=False)
    tiny_opt.step()
tiny.eval()
tiny_acc = accuracy(y20, tiny(x20).argmax(1))
report.text(
    f"""
    {OVERFIT_STEPS} Adam steps (lr 3e-3) on the same 20 images: the loss goes from {fmt(tiny_losses[0])} to
    **{fmt(tiny_losses[-1])}**, and the net classifies {tiny_acc:.0%} of the 20 correctly. (It has learned
    nothing general — 20 images are far too few — which is the point: this checks the machinery, not the model.)
    """
)
overfit_tol = 0.1 if quick() else 0.02
report.claim(tiny_losses[-1] < overfit_tol and tiny_acc == 1.0, f"SeedCNN memorises 20 images: loss < {overfit_tol:g} and 100 % correct",
             f"loss {fmt(tiny_losses[-1])}")

# %% [markdown]
# ## Training, with the update/weight ratio watched
#
# The third check runs during training: for each weight tensor, ‖update‖ / ‖weight‖. Around 1e-3 is
# healthy; 1e-1 means the learning rate is far too high, 1e-6 that nothing is moving.

# %%
report.section("The training loop")
model = models.SeedCNN(rng=0)
crit = model.make_loss()
opt = optim.Adam(model.parameters(), lr=LR)
params = dict(model.named_parameters())
steps_per_epoch = len(y_train) // BATCH
total_steps = int(EPOCHS * steps_per_epoch)
eval_every = max(total_steps // 10, 1)
eval_n = 1000 if quick() else 2000
step_losses, evals, ratios = [], [], {k: [] for k in params if k.endswith("weight")}
order = np.concatenate([epoch_order(len(y_train), e, seed=0) for e in range(int(np.ceil(EPOCHS)) or 1)])
first_batches = []
for step in range(total_steps):
    idx = order[step * BATCH : (step + 1) * BATCH]
    xb, yb = x_train[idx], y_train[idx]
    if step < 5:
        first_batches.append(idx)
    loss = crit(model(xb), yb)  # forward
    opt.zero_grad()
    model.backward(crit.backward(), input_grad=False)  # backward: gradients into p.grad
    before = {k: params[k].data.copy() for k in ratios} if step % 10 == 0 else None
    opt.step()  # the update
    if before is not None:
        for k in ratios:
            ratios[k].append(np.linalg.norm(params[k].data - before[k]) / np.linalg.norm(before[k]))
    step_losses.append(loss)
    if (step + 1) % eval_every == 0 or step + 1 == total_steps:
        model.eval()
        acc = accuracy(y_test[:eval_n], model(x_test[:eval_n]).argmax(1))
        model.train()
        evals.append((step + 1, acc))
model.eval()
pred = np.concatenate([model(x_test[i : i + 1000]).argmax(1) for i in range(0, len(y_test), 1000)])
test_acc = accuracy(y_test, pred)
median_ratio = {k: float(np.median(v)) for k, v in ratios.items()}
report.text(
    f"""
    The loop is four lines per step — `loss = crit(model(xb), yb)`, `opt.zero_grad()`,
    `model.backward(crit.backward())`, `opt.step()` — over {total_steps:,} steps ({EPOCHS:g} epochs of batches of
    {BATCH}, Adam lr {LR:g}, a fresh shuffled order per epoch). Every {eval_every} steps the model is
    evaluated on {eval_n:,} test images (in `eval()` mode). After training, on all {len(y_test):,} test
    images: **{test_acc:.2%}**.

    The update/weight ratio ‖Δw‖ / ‖w‖, every 10th step, median over the run:
    """
)
report.table(["weight", "median ‖Δw‖/‖w‖", "first", "last"],
             [[k, f"{median_ratio[k]:.1e}", f"{ratios[k][0]:.1e}", f"{ratios[k][-1]:.1e}"] for k in ratios])
report.text(
    """
    With Adam the first steps move every weight by about lr = 1e-3 whatever its gradient (see the `optimizers`
    walkthrough), so the ratio starts at lr / |w|: largest for `fc.weight`, whose entries are smallest
    (fan_in 784). As Adam's second-moment estimate fills, the steps shrink, and over the run every weight
    settles near a thousandth of its size per step — the rule of thumb's healthy range.
    """
)
upper = 1e-1 if quick() else 1e-2  # a quick run sees only the first, larger steps
report.claim(all(1e-4 < r < upper for r in median_ratio.values()),
             f"sanity check 3: every weight's update is about 1e-3 of its size (median between 1e-4 and {upper:g})",
             ", ".join(f"{k} {v:.1e}" for k, v in median_ratio.items()))
report.claim(np.mean(step_losses[-50:]) < np.mean(step_losses[:50]), "the training loss fell",
             f"{fmt(np.mean(step_losses[:50]))} -> {fmt(np.mean(step_losses[-50:]))} (mean of 50 steps)")
if real and not quick():
    report.claim(test_acc > 0.97, f"after {EPOCHS:g} epochs SeedCNN classifies over 97 % of the MNIST test set", f"{test_acc:.2%}")
else:
    report.claim(test_acc > 0.5, "the network learned far beyond chance (10 %)", f"{test_acc:.2%}")

if torch is None:
    report.note_skip("torch comparison of the first steps (torch is not installed)")
else:
    from torchref import models as tmodels
    from torchref.transfer import from_scratch

    check = models.SeedCNN(rng=0)
    twin = from_scratch(check, tmodels.SeedCNN())
    c_crit, c_opt = check.make_loss(), optim.Adam(check.parameters(), lr=LR)
    t_opt = torch.optim.Adam(twin.parameters(), lr=LR)
    ours, theirs = [], []
    for idx in first_batches:
        ours.append(c_crit(check(x_train[idx]), y_train[idx]))
        c_opt.zero_grad()
        check.backward(c_crit.backward(), input_grad=False)
        c_opt.step()
        t_loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x_train[idx])), torch.from_numpy(y_train[idx]))
        t_opt.zero_grad()
        t_loss.backward()
        t_opt.step()
        theirs.append(t_loss.item())
    report.parity("loss of the first 5 training steps", ours, theirs, 1e-5, ("scratchnet", "torch (torchref.SeedCNN, same weights)"))
    report.parity("loss of the first 5 training steps", ours, step_losses[:5], 0.0, ("this check", "the training run"))

fig = Figure(figsize=(12, 3.8))
ax_l, ax_a = fig.subplots(1, 2)
window = min(50, max(len(step_losses) // 5, 1))
ax_l.plot(step_losses, lw=0.5, alpha=0.35, label="batch loss")
ax_l.plot(np.arange(window - 1, len(step_losses)), np.convolve(step_losses, np.ones(window) / window, mode="valid"),
          lw=1.5, label=f"mean of {window} steps")
ax_l.axhline(np.log(10), color="gray", ls=":", lw=0.8)
ax_l.text(len(step_losses) * 0.6, np.log(10) * 1.03, "ln 10", color="gray", fontsize=8)
ax_l.set_yscale("log")
ax_l.set_xlabel("step")
ax_l.set_ylabel("training loss")
ax_l.legend(fontsize=8)
ax_l.grid(alpha=0.3, which="both")
ax_a.plot([s for s, _ in evals], [100 * a for _, a in evals], "o-")
ax_a.set_xlabel("step")
ax_a.set_ylabel(f"test accuracy on {eval_n:,} images (%)")
ax_a.grid(alpha=0.3)
fig.suptitle(f"Learning curves: SeedCNN, Adam lr {LR:g}, batch {BATCH}")
report.figure(fig, "curves", "Training loss per step and test accuracy during training.")

# %% [markdown]
# ## What the trained network gets wrong: the confusion matrix

# %%
report.section("The confusion matrix")
cm = confusion_matrix(y_test, pred, 10)
off = cm.copy()
np.fill_diagonal(off, 0)
worst = np.unravel_index(int(np.argmax(off)), off.shape)
report.text(
    f"""
    Row = the true digit, column = the prediction, over all {len(y_test):,} test images. The diagonal holds the
    {int(np.trace(cm)):,} correct ones; the largest off-diagonal entry is **{int(off[worst])}** images of a
    {worst[0]} taken for a {worst[1]}.
    """
)
report.claim(cm.sum() == len(y_test) and np.trace(cm) == int(round(test_acc * len(y_test))),
             "the confusion matrix counts every test image once; its diagonal is the accuracy")
fig = Figure(figsize=(6.5, 5.5))
ax = fig.subplots()
ax.imshow(np.log1p(cm), cmap="Blues")
for (i, j), v in np.ndenumerate(cm):
    ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if v > cm.max() / 3 else "black")
ax.set_xticks(range(10))
ax.set_yticks(range(10))
ax.set_xlabel("predicted")
ax.set_ylabel("true")
ax.set_title(f"Confusion matrix, test set ({test_acc:.2%} correct); colour: log(1 + count)", fontsize=10)
report.figure(fig, "confusion", "Confusion matrix of the trained SeedCNN on the test set.")

# %% [markdown]
# ## Inside the network: filters and feature maps

# %%
report.section("The learned conv1 filters and the feature maps of one digit")
digit = x_test[:1]
acts = {}
h = digit
for name, layer in model.named_children():
    h = layer(h)
    acts[name] = h
filters = params["conv1.weight"].data[:, 0]
report.text(
    f"""
    conv1's eight 3×3 filters after training (red positive, blue negative): most are small edge and
    stroke detectors — a positive and a negative side. Below them, what they make of test digit #0 (a
    {int(y_test[0])}): each of the eight channels of conv1, after its ReLU, lights up where its pattern occurs;
    conv2 combines them into sixteen 14×14 maps (the first eight drawn).
    """
)
fig = Figure(figsize=(13, 5.4))
grid = fig.add_gridspec(3, 9, wspace=0.15, hspace=0.35)
ax = fig.add_subplot(grid[:, 0])
ax.imshow(digit[0, 0], cmap="gray_r")
ax.set_title(f"test #0 (a {int(y_test[0])})", fontsize=9)
ax.axis("off")
for c in range(8):
    ax = fig.add_subplot(grid[0, c + 1])
    heatmap(ax, filters[c], f"filter {c}", digits=1, fontsize=6, ticks=False)
    ax = fig.add_subplot(grid[1, c + 1])
    ax.imshow(acts["relu1"][0, c], cmap="magma")
    ax.set_title(f"relu1 ch {c}", fontsize=8)
    ax.axis("off")
    ax = fig.add_subplot(grid[2, c + 1])
    ax.imshow(acts["relu2"][0, c], cmap="magma")
    ax.set_title(f"relu2 ch {c}", fontsize=8)
    ax.axis("off")
fig.suptitle("Top: conv1's learned filters. Middle: their ReLU maps of the digit (28×28). Bottom: conv2 after ReLU (14×14)")
report.figure(fig, "filters", "The eight learned conv1 filters and the feature maps they and conv2 produce for one test digit.")
report.claim(float(np.std(filters)) > 0.05, "the conv1 filters are not uniform after training", f"std {float(np.std(filters)):.2f}")

# %% [markdown]
# ## A saliency map: dL/dx
#
# Backprop does not stop at the first layer: `model.backward` returns the gradient of the loss with
# respect to the *input pixels*. Its magnitude says which pixels the loss is most sensitive to.

# %%
report.section("Saliency: the gradient of the loss with respect to the pixels")
picks = [int(np.flatnonzero(y_test == d)[0]) for d in (0, 2, 3, 5, 7, 9)]
saliency, on_digit, area = [], [], []
for i in picks:
    out = model(x_test[i : i + 1])
    crit(out, y_test[i : i + 1])
    g = model.backward(crit.backward())  # (1, 1, 28, 28): dL/dx
    s = np.abs(g[0, 0])
    saliency.append(s)
    mask = x_test[i, 0] > x_test[i, 0].min() + 0.5  # the stroke pixels
    near = np.zeros_like(mask)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near |= np.roll(np.roll(mask, dy, 0), dx, 1)
    on_digit.append(float(s[near].sum() / s.sum()))
    area.append(float(near.mean()))
report.text(
    f"""
    For six test digits, |dL/dx| per pixel (the loss of the true class). Raw gradients are noisy — the
    map is speckled and reaches into the background — but they are concentrated on and around the strokes:
    on average {np.mean(on_digit):.0%} of the gradient's mass lies within two pixels of a stroke, a region
    that covers {np.mean(area):.0%} of the image. Note the scales: the largest entry ranges from
    {min(s_.max() for s_ in saliency):.0e} to {max(s_.max() for s_ in saliency):.0e}. The chain rule starts
    from dL/dlogits = p - onehot, which is almost 0 when the network is confident and right, so a
    confidently classified digit has an almost vanishing saliency; the map shows *where* the loss is
    sensitive, its size *how much*.
    """
)
report.claim(np.mean(on_digit) > 1.2 * np.mean(area), "the saliency is concentrated on and near the strokes (their share of the mass exceeds their share of the area by > 20 %)",
             f"{np.mean(on_digit):.0%} of the mass on {np.mean(area):.0%} of the area")
if torch is not None:
    twin = from_scratch(model, tmodels.SeedCNN())
    tx = torch.from_numpy(x_test[picks[-1] : picks[-1] + 1].copy()).requires_grad_(True)
    torch.nn.functional.cross_entropy(twin(tx), torch.from_numpy(y_test[picks[-1] : picks[-1] + 1])).backward()
    report.parity("dL/dx (saliency)", saliency[-1], tx.grad.abs().numpy()[0, 0], 1e-4, ("scratchnet", "torch autograd"))
fig = Figure(figsize=(13, 4.4))
axes = fig.subplots(2, 6)
for k, i in enumerate(picks):
    axes[0, k].imshow(x_test[i, 0], cmap="gray_r")
    axes[0, k].set_title(f"label {int(y_test[i])}, predicted {int(pred[i])}", fontsize=8)
    axes[1, k].imshow(saliency[k], cmap="hot")
    axes[1, k].set_title(f"|dL/dx|, max {saliency[k].max():.1e}", fontsize=8)
    for a in axes[:, k]:
        a.axis("off")
fig.suptitle("Saliency: which pixels the loss is most sensitive to (top: the digit, bottom: |dL/dx|)")
report.figure(fig, "saliency", "Six test digits and the magnitude of the gradient of their loss with respect to each pixel.")

# %%
report_path = report.finish()  # the markdown report; its figures are beside it
