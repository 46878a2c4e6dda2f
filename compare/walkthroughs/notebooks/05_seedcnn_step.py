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
# # One SeedCNN training step on one MNIST digit, opened up
#
# Forward through every layer of SeedCNN, the loss, backward through every layer in reverse, then one
# Adam step — with the shape and size of every activation and gradient, the update each parameter
# receives, and the loss on that digit before and after. Checked against finite differences (float64)
# and torch autograd.

# %%
import numpy as np
from matplotlib.figure import Figure

from scratchnet import models, nn, optim
from scratchnet.data import ChecksumError, IDXError, load_mnist_split, normalize
from scratchnet.gradcheck import check_module, kink_margin
from compare.walkthroughs._report import Report, fmt, optional_torch, settings

report = Report("seedcnn_step", "One SeedCNN training step on one MNIST digit, opened up")
torch = optional_torch()
LR = 1e-3


def generated_seven() -> np.ndarray:
    """A 28×28 uint8 image of a handwritten-looking 7: two thick anti-aliased strokes, MNIST-like."""
    rr, cc = np.mgrid[0:28, 0:28].astype(np.float64)
    strokes = [((6.0, 7.0), (6.5, 20.0)), ((6.5, 20.0), (22.0, 12.0)), ((13.5, 11.0), (13.0, 18.0))]
    dist = np.full((28, 28), np.inf)
    for (r0, c0), (r1, c1) in strokes:
        d = np.array([r1 - r0, c1 - c0])
        t = np.clip(((rr - r0) * d[0] + (cc - c0) * d[1]) / d.dot(d), 0, 1)
        dist = np.minimum(dist, np.hypot(rr - (r0 + t * d[0]), cc - (c0 + t * d[1])))
    return (np.clip(2.0 - dist, 0, 1) * 255).round().astype(np.uint8)


# %% [markdown]
# ## The digit

# %%
report.section("The digit and the network")
try:
    split = load_mnist_split(settings().data_dir, split="test", download=False)
    index = 0
    image, label = split.images[index], int(split.labels[index])
    source = f"the real MNIST test image #{index} (read by `scratchnet.data` from `$MNIST_DIR` or the cache)"
    real_digit = True
except (OSError, IDXError, ChecksumError) as err:
    image, label = generated_seven(), 7
    source = "a generated digit-like image of a 7"
    real_digit = False
    report.text(
        f"""
        **MNIST was not found, so this run uses a generated digit-like image instead of a real digit.**
        ({type(err).__name__}: {str(err).splitlines()[0]}) Set `MNIST_DIR` or pass `--data-dir` to use the
        real one. Everything below works the same way on either image.
        """
    )
x = normalize(image[None], "mnist")  # (1, 1, 28, 28) float32: (pixel/255 - 0.1307) / 0.3081
y = np.array([label])
model = models.SeedCNN(rng=0)  # float32, torch's default initialisation from a seeded generator
initial_weights = {k: v.copy() for k, v in model.state_dict().items()}  # the Adam cell restarts from these
report.text(
    f"""
    The input is {source}, label **{label}**, scaled to [0, 1] and normalised with MNIST's mean and
    standard deviation, as in training: x has shape {x.shape}, dtype {x.dtype}. The network is SeedCNN in
    float32, freshly initialised (torch's default initialisation, seed 0), {model.num_parameters():,}
    parameters:
    """
)
report.code(repr(model))

# %% [markdown]
# ## Forward, layer by layer

# %%
report.section("Forward: every activation")
acts = [("input", x)]
h = x
for name, layer in model.named_children():
    h = layer(h)
    acts.append((name, h))
logits = h
crit = nn.CrossEntropyLoss()
loss_before = crit(logits, y)
probs_before = np.exp(logits[0] - logits[0].max())
probs_before /= probs_before.sum()
report.text(
    f"""
    Each layer keeps what its backward pass will need (the padded input of a convolution, the mask of a
    ReLU, the winners of a max-pool). The logits go into the softmax cross-entropy: the network gives the
    true class {label} a probability of {fmt(probs_before[label])} (an untrained net is close to 1/10), so
    the loss is -log {fmt(probs_before[label])} = **{fmt(loss_before)}**.
    """
)
report.table(
    ["layer", "output shape", "min", "max", "mean", "exactly zero"],
    [[name, str(a.shape), fmt(float(a.min())), fmt(float(a.max())), fmt(float(a.mean())), f"{np.mean(a == 0):.0%}"]
     for name, a in acts],
)
report.text(
    f"""
    Every activation, summarised. The convolutions keep the 28×28 (then 14×14) grid and multiply the
    channels; each ReLU zeroes its negative inputs ({np.mean(dict(acts)['relu1'] == 0):.0%} of `relu1`'s
    outputs are exactly 0); each max-pool keeps one value of four. The feature maps of `conv1` and
    `relu1` are drawn below.
    """
)
fig = Figure(figsize=(12, 3.3))
axes = fig.subplots(2, 8)
for row, key in enumerate(("conv1", "relu1")):
    maps = dict(acts)[key][0]
    for c in range(8):
        axes[row, c].imshow(maps[c], cmap="RdBu_r", vmin=-np.abs(maps).max(), vmax=np.abs(maps).max())
        axes[row, c].set_xticks([])
        axes[row, c].set_yticks([])
        axes[row, c].set_title(f"{key} ch {c}", fontsize=8)
fig.suptitle("The eight feature maps of conv1 (top) and after ReLU (bottom): red positive, blue negative")
report.figure(fig, "feature_maps", "conv1's eight output channels for this digit, before and after the ReLU.")

# %% [markdown]
# ## Backward, layer by layer (in reverse)

# %%
report.section("Backward: every gradient, in reverse order")
model.zero_grad()  # so that re-running this cell does not add the gradients twice
crit(model(x), y)  # a fresh forward: each forward supports one backward (as in torch)
grad_out = {}  # layer name -> dL/d(output of that layer)
g = crit.backward()
grad_logits = g.copy()
for name, layer in reversed(list(model.named_children())):
    grad_out[name] = g
    g = layer.backward(g)
grad_out["input"] = g  # dL/dx, the gradient with respect to the image itself
params = dict(model.named_parameters())
param_grads = {k: p.grad.copy() for k, p in params.items()}
report.text(
    """
    Backprop starts at the loss with dL/dlogits = p - onehot (N = 1) and hands each layer the gradient
    with respect to its *output*; the layer returns the gradient with respect to its *input* (which is
    the previous layer's output) and adds its parameter gradients into `param.grad`:

    - `fc` (Linear): dx = g W, dW = gᵀ x, db = g;
    - `flatten`: reshape the gradient back to (1, 16, 7, 7);
    - `pool2`, `pool1` (max-pool 2×2): each gradient goes to its window's winner, the other three get 0;
    - `relu2`, `relu1`: multiply by the mask [input > 0];
    - `conv2`, `conv1`: dW = input correlated with g, dx = g fully convolved with the flipped filters
      (see the `conv2d` walkthrough).

    The table lists, for each layer, its output and the gradient of the loss with respect to that
    output — shape, L2 norm, and the fraction of entries that are exactly zero — and the parameter
    gradients. Read it bottom-up to follow backprop.
    """
)
rows = []
for name, a in acts:
    gl = grad_out[name] if name != "input" else grad_out["input"]
    prow = [k for k in params if k.startswith(name + ".")]
    pdesc = "; ".join(f"{k.split('.')[1]} {params[k].shape}: ‖p‖ {fmt(np.linalg.norm(params[k].data))}, "
                      f"‖dL/dp‖ {fmt(np.linalg.norm(param_grads[k]))}" for k in prow) or "—"
    rows.append([name, str(a.shape), fmt(np.linalg.norm(a)), f"{np.mean(a == 0):.0%}", fmt(np.linalg.norm(gl)),
                 f"{np.mean(gl == 0):.0%}", pdesc])
report.table(["layer", "output shape", "‖output‖", "zeros", "‖dL/d output‖", "zeros", "parameters and their gradients"], rows)
relu1_zero = np.mean(grad_out["relu1"] == 0)
pool1_in_zero = np.mean(grad_out["conv1"] == 0)
report.text(
    f"""
    Note how sparse the gradients become on their way down: after routing through `pool1`, {pool1_in_zero:.0%}
    of the gradient entries at the output of `conv1` are exactly zero (three of every four positions lost
    their window, and the ReLU blocked more). Every parameter gradient is a sum over the positions that
    *did* receive gradient.
    """
)
report.claim(pool1_in_zero >= 0.75, "at least 3/4 of dL/d(conv1 output) is zero after max-pool and ReLU routing",
             f"{pool1_in_zero:.1%}")
model.zero_grad()  # the same gradients in one call: model.backward walks the layers in reverse
crit(model(x), y)
model.backward(crit.backward())
for k, p in params.items():
    report.check_close(f"{k} gradient", param_grads[k], p.grad, 0.0, ("layer by layer", "model.backward"))

# %% [markdown]
# ## Is the backward right? Finite differences in float64, torch autograd in float32

# %%
report.section("Checking the gradients")
model64 = models.SeedCNN(dtype=np.float64, rng=0)
model64.load_state_dict(initial_weights)  # the weights the gradients above were taken at
x64 = x.astype(np.float64)
margin = kink_margin(model64, x64)
result = check_module(model64, x64, eps=1e-5, max_entries=12, seed=0)
r1 = dict(acts)["relu1"]
windows = np.sort(r1.reshape(1, 8, 14, 2, 14, 2).transpose(0, 1, 2, 4, 3, 5).reshape(-1, 4), axis=1)
tied = (windows[:, -1] == windows[:, -2]) & (windows[:, -1] > 0)
report.text(
    f"""
    **Finite differences.** A float64 copy of the same network is checked with
    `scratchnet.gradcheck.check_module`: for 12 random entries of the input and of every parameter, the
    centred difference of sum(output × G) (G a random upstream gradient) against backprop, skipping (and
    counting) any step that crosses a kink — a ReLU input changing sign or a max-pool window changing
    its winner — because a difference quotient across a kink is not a derivative.

    The digit's distance to the nearest kink is {margin:.1e}: an MNIST image is mostly flat background,
    every background pixel has the same value, so `conv1` gives the same output at all background
    positions, and {tied.sum()} of the {len(windows)} windows of `pool1` ({tied.mean():.0%}) are exact **ties**
    between two equal positive values. Nudging a weight moves all tied values together and keeps the tie, so every
    parameter entry can be checked; nudging one input pixel breaks ties, and {result.kink_crossings["input"]}
    of the 12 input pixels tried had to be skipped. (At a tie, backprop gives the gradient to the first
    maximum, exactly as torch does: the torch comparison below includes dL/dx.)
    """
)
report.code(str(result))
report.claim(result.checked["input"] >= 1, "at least one input entry was checked away from kinks",
             f"{result.checked['input']} of 12")
for k, err in result.errors.items():
    report.claim(err < 1e-7, f"float64 gradient check of {k}: relative error < 1e-7", f"{err:.1e}")
model64.zero_grad()
crit64 = nn.CrossEntropyLoss()
crit64(model64(x64), y)
model64.backward(crit64.backward())
for k, p in model64.named_parameters():
    report.check_close(f"{k} gradient", param_grads[k], p.grad, 1e-4, ("float32", "float64"))
if torch is None:
    report.note_skip("torch autograd comparison (torch is not installed)")
else:
    F = torch.nn.functional
    tp = {k: torch.tensor(initial_weights[k], requires_grad=True) for k in params}

    def torch_forward(inp):
        z = F.max_pool2d(F.relu(F.conv2d(inp, tp["conv1.weight"], tp["conv1.bias"], padding=1)), 2)
        z = F.max_pool2d(F.relu(F.conv2d(z, tp["conv2.weight"], tp["conv2.bias"], padding=1)), 2)
        return F.linear(z.flatten(1), tp["fc.weight"], tp["fc.bias"])

    tx = torch.tensor(x, requires_grad=True)
    tlogits = torch_forward(tx)
    tloss = F.cross_entropy(tlogits, torch.tensor(y))
    tloss.backward()
    report.text("**torch autograd** runs the same network (same float32 weights) with `torch.nn.functional`.")
    report.parity("logits", logits, tlogits.detach().numpy(), 1e-5, ("scratchnet", "torch"))
    report.parity("loss", loss_before, tloss.item(), 1e-6, ("scratchnet", "torch"))
    report.parity("dL/dx (the image)", grad_out["input"], tx.grad.numpy(), 1e-5, ("scratchnet", "torch autograd"))
    for k in params:
        report.parity(f"{k} gradient", param_grads[k], tp[k].grad.numpy(), 1e-5, ("scratchnet", "torch autograd"))

# %% [markdown]
# ## One Adam step

# %%
report.section("One Adam step: what each parameter receives")
model.load_state_dict(initial_weights)  # start from the same weights every time this cell runs
model.zero_grad()
crit(model(x), y)
model.backward(crit.backward())
before = {k: p.data.copy() for k, p in params.items()}
opt = optim.Adam(model.parameters(), lr=LR)
opt.step()
updates = {k: params[k].data - before[k] for k in params}
b1, b2, eps = 0.9, 0.999, 1e-8
report.text(
    f"""
    Adam with lr = {LR:g}. At its first step m = (1-β₁)g and v = (1-β₂)g², and the bias corrections turn
    them back into g and g², so the update is
    """
)
report.math(r"\Delta\theta = -\mathrm{lr}\,\frac{g}{|g| + \epsilon}")
report.text(
    f"""
    — **every weight with a non-negligible gradient moves by exactly lr = {LR:g}** against the sign of its
    gradient, however large or small that gradient is, and a weight whose gradient is exactly 0 does not
    move. Where do exact zeros come from? In `fc.weight`, from zero *input activations*: dW = gᵀx, so the
    column of W that multiplies an input x_j = 0 (a unit that the ReLU switched off and `pool2` passed on)
    gets gᵀ·0 = 0 in every row. Contrast plain SGD, whose step lr·g would differ by orders of magnitude
    between layers (see ‖dL/dp‖ above).
    """
)
rows = []
for k in params:
    g64 = param_grads[k].astype(np.float64)
    hand = -LR * g64 / (np.sqrt((1 - b2) * g64 * g64) / np.sqrt(1 - b2) + eps)
    report.check_close(f"{k} update", hand, updates[k], 1e-4, ("-lr·g/(|g|+ε) by hand", "Adam.step"))
    u = np.abs(updates[k])
    rows.append([k, str(params[k].shape), fmt(np.linalg.norm(param_grads[k])), fmt(float(u.max())),
                 f"{np.mean(u > 0.99 * LR):.1%}", f"{np.mean(param_grads[k] == 0):.1%}",
                 fmt(np.linalg.norm(updates[k]) / np.linalg.norm(before[k]))])
report.table(["parameter", "shape", "‖grad‖", "max |update|", "moved by ≈ lr", "zero gradient", "‖update‖ / ‖p‖"], rows)
moved = np.concatenate([np.abs(updates[k]).ravel() for k in params])
nonzero = np.concatenate([(param_grads[k] != 0).ravel() for k in params])
big = np.concatenate([(np.abs(param_grads[k]) > 1e-5).ravel() for k in params])
report.claim(np.all(np.abs(moved[big] / LR - 1) < 1e-2),
             "every parameter whose gradient exceeds 1e-5 in size moved by lr (to 1%)", f"{big.sum():,} of {big.size:,}")
report.claim(np.all(moved[~nonzero] == 0), "parameters with exactly zero gradient did not move", f"{(~nonzero).sum():,} of them")
fc_in = dict(acts)["flatten"][0]  # the input of fc
fc_zero_cols = np.all(param_grads["fc.weight"] == 0, axis=0)
report.claim(np.array_equal(fc_zero_cols, fc_in == 0),
             "the all-zero columns of fc.weight's gradient are exactly the inputs of fc that are 0 (dW = gᵀx)",
             f"{int(fc_zero_cols.sum())} of {fc_in.size} columns")
if torch is not None:
    tp = {k: torch.tensor(before[k], requires_grad=True) for k in params}  # fresh: the cell may be re-run
    for k in params:
        tp[k].grad = torch.tensor(param_grads[k])
    topt = torch.optim.Adam(list(tp.values()), lr=LR)
    topt.step()
    for k in params:
        report.parity(f"{k} after the step", params[k].data, tp[k].detach().numpy(), 1e-6, ("scratchnet Adam", "torch Adam"))

# %% [markdown]
# ## Did the loss on this digit go down?

# %%
logits_after = model(x)
loss_after = crit(logits_after, y)
probs_after = np.exp(logits_after[0] - logits_after[0].max())
probs_after /= probs_after.sum()
report.section("The loss on this digit after the step")
report.text(
    f"""
    The same digit through the updated network: p(class {label}) went from {fmt(probs_before[label])} to
    {fmt(probs_after[label])}, and the loss from {fmt(loss_before)} to **{fmt(loss_after)}**. To first order
    Adam's step changes the loss by Σ g·Δθ = -lr Σ|g| = {fmt(-LR * sum(np.abs(v).sum() for v in param_grads.values()))};
    the actual change is {fmt(loss_after - loss_before)}.
    """
)
report.claim(loss_after < loss_before, "one Adam step lowered the loss on this digit", f"{fmt(loss_before)} -> {fmt(loss_after)}")
report.claim(probs_after[label] > probs_before[label], "and raised the probability of its true class")

# %%
fig = Figure(figsize=(11, 3.8))
ax_img, ax_p = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2.2]})
ax_img.imshow(image, cmap="gray_r")
ax_img.set_title(f"label {label} ({'MNIST test #0' if real_digit else 'generated, not MNIST'})", fontsize=10)
ax_img.set_xticks([])
ax_img.set_yticks([])
classes = np.arange(10)
ax_p.bar(classes - 0.2, probs_before, width=0.4, label=f"before (loss {loss_before:.4f})", color="tab:gray")
ax_p.bar(classes + 0.2, probs_after, width=0.4, label=f"after one Adam step (loss {loss_after:.4f})", color="tab:blue")
ax_p.set_xticks(classes)
ax_p.set_xlabel("class")
ax_p.set_ylabel("softmax probability")
ax_p.axvspan(label - 0.5, label + 0.5, color="tab:green", alpha=0.15, lw=0)
ax_p.legend(fontsize=9)
ax_p.set_title("the network's probabilities for this digit", fontsize=10)
report.figure(fig, "digit", "The digit, and the network's class probabilities before and after one Adam step (true class shaded).")

fig = Figure(figsize=(12, 4.2))
ax_a, ax_w = fig.subplots(1, 2)
order = [name for name, _ in reversed(acts)]
ax_a.bar(range(len(order)), [np.linalg.norm(grad_out[n]) for n in order], color="tab:purple")
ax_a.set_xticks(range(len(order)))
ax_a.set_xticklabels([f"{n}" for n in order], rotation=45, ha="right")
ax_a.set_yscale("log")
ax_a.set_ylabel("‖dL/d output‖")
ax_a.set_title("gradient reaching each layer's output (backward order →)", fontsize=10)
names = list(params)
pos = np.arange(len(names))
ax_w.bar(pos - 0.2, [np.linalg.norm(param_grads[k]) / np.linalg.norm(before[k]) for k in names], width=0.4,
         label="‖dL/dp‖ / ‖p‖  (SGD would step lr × this)", color="tab:orange")
ax_w.bar(pos + 0.2, [np.linalg.norm(updates[k]) / np.linalg.norm(before[k]) for k in names], width=0.4,
         label="‖Adam update‖ / ‖p‖", color="tab:blue")
ax_w.set_xticks(pos)
ax_w.set_xticklabels(names, rotation=45, ha="right")
ax_w.set_yscale("log")
ax_w.set_title("gradient and Adam update per parameter, relative to the parameter", fontsize=10)
ax_w.legend(fontsize=8)
report.figure(fig, "gradients", "Gradient magnitude per layer (left) and per parameter, with the Adam update it produced (right).")

# %%
report_path = report.finish()  # the markdown report; its figures are beside it
