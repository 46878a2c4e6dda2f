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
# # Optimisers step by step: SGD, momentum, Adam, Adadelta
#
# Backprop gives the gradient; the optimiser decides what to do with it. We follow one parameter
# through three steps of each optimiser, computing every update by hand next to `scratchnet.optim`
# (and torch.optim when installed), then watch all four on two 2-D loss surfaces.

# %%
import numpy as np
from matplotlib.figure import Figure

from scratchnet import optim
from scratchnet.nn import Parameter
from compare.walkthroughs._report import Report, fmt, optional_torch

report = Report("optimizers", "Optimisers step by step: SGD, momentum, Adam, Adadelta")
torch = optional_torch()
ROUND_OFF = 1e-12
TARGET = 3.0


def loss_1d(theta: float) -> tuple[float, float]:
    """f(θ) = (θ - 3)², and its gradient 2(θ - 3)."""
    return (theta - TARGET) ** 2, 2.0 * (theta - TARGET)


def run_scratchnet(make, steps: int, theta0: float = 0.0) -> list[float]:
    p = Parameter(np.array([theta0]))
    opt = make([p])
    out = []
    for _ in range(steps):
        p.grad = np.array([loss_1d(float(p.data[0]))[1]])
        opt.step()
        out.append(float(p.data[0]))
    return out


def run_torch(make, steps: int, theta0: float = 0.0) -> list[float]:
    p = torch.tensor([theta0], dtype=torch.float64, requires_grad=True)
    opt = make([p])
    out = []
    for _ in range(steps):
        p.grad = torch.tensor([loss_1d(float(p.detach()[0]))[1]], dtype=torch.float64)
        opt.step()
        out.append(float(p.detach()[0]))
    return out


report.text(
    f"""
    One parameter θ, starting at θ₀ = 0, and the loss f(θ) = (θ - {TARGET:g})², whose gradient is
    g = 2(θ - {TARGET:g}). Each optimiser takes three steps. The "by hand" columns are plain Python
    arithmetic on the formulas shown; the next columns are `scratchnet.optim` and `torch.optim` given
    the same gradients. Every step is a *check*, not just a print.
    """
)

# %% [markdown]
# ## SGD and SGD with momentum
#
# SGD: $\theta \leftarrow \theta - \text{lr}\cdot g$. Momentum (torch's form): $b_1 = g_1$,
# $b_t = \mu\, b_{t-1} + g_t$, $\theta \leftarrow \theta - \text{lr}\cdot b_t$.

# %%


def steps_table(name, hand_rows, theta_hand, make_ours, make_torch, state_headers):
    ours = run_scratchnet(make_ours, len(theta_hand))
    theirs = run_torch(make_torch, len(theta_hand)) if torch is not None else [float("nan")] * len(theta_hand)
    rows = [
        [str(t + 1), *cells, fmt(theta_hand[t], 6), fmt(ours[t], 6), "—" if torch is None else fmt(theirs[t], 6)]
        for t, cells in enumerate(hand_rows)
    ]
    report.table(["t", "θ before", "g", *state_headers, "step Δθ", "θ by hand", "scratchnet", "torch"], rows)
    report.check_close(f"{name}: θ after each step", theta_hand, ours, ROUND_OFF, ("by hand", "scratchnet.optim"))
    if torch is not None:
        report.parity(f"{name}: θ after each step", ours, theirs, ROUND_OFF, ("scratchnet.optim", "torch.optim"))
    return ours


report.section("SGD: θ ← θ - lr · g")
lr = 0.1
theta, rows, thetas = 0.0, [], []
for t in range(3):
    _, g = loss_1d(theta)
    step = -lr * g
    rows.append([fmt(theta, 6), fmt(g, 6), fmt(step, 6)])
    theta += step
    thetas.append(theta)
report.text(f"Plain gradient descent with lr = {lr}: the step is proportional to the gradient, so it shrinks as θ approaches {TARGET:g}.")
steps_table("SGD", rows, thetas, lambda ps: optim.SGD(ps, lr=lr),
            lambda ps: torch.optim.SGD(ps, lr=lr), [])

report.section("SGD with momentum: a running sum of gradients")
mu = 0.9
theta, buf, rows, thetas = 0.0, None, [], []
for t in range(3):
    _, g = loss_1d(theta)
    buf = g if buf is None else mu * buf + g
    step = -lr * buf
    rows.append([fmt(theta, 6), fmt(g, 6), fmt(buf, 6), fmt(step, 6)])
    theta += step
    thetas.append(theta)
report.math(r"b_1 = g_1,\qquad b_t = \mu\, b_{t-1} + g_t,\qquad \theta_t = \theta_{t-1} - \mathrm{lr}\; b_t")
report.text(
    f"""
    With μ = {mu} the buffer b remembers past gradients; along a direction where they agree it grows to
    up to 1/(1-μ) = {1 / (1 - mu):g} times one gradient. torch (and scratchnet) start the buffer at the first
    gradient itself, so the first step equals SGD's; the second is already larger although the gradient
    is smaller.
    """
)
mom = steps_table("momentum", rows, thetas, lambda ps: optim.SGD(ps, lr=lr, momentum=mu),
                  lambda ps: torch.optim.SGD(ps, lr=lr, momentum=mu), ["buffer b"])
sgd_first = -lr * loss_1d(0.0)[1]
report.claim(abs(mom[0] - sgd_first) < 1e-15 and abs(mom[1] - mom[0]) > abs(sgd_first),
             "momentum's first step equals SGD's; its second step is larger than its first")

# %% [markdown]
# ## Adam
#
# m ← β₁m + (1-β₁)g, v ← β₂v + (1-β₂)g², θ ← θ - lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε).

# %%
report.section("Adam: a step of about lr in each coordinate")
lr_adam, b1, b2, eps_adam = 0.1, 0.9, 0.999, 1e-8
theta, m, v, rows, thetas = 0.0, 0.0, 0.0, [], []
for t in range(1, 4):
    _, g = loss_1d(theta)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    step = -(lr_adam / (1 - b1**t)) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps_adam)
    rows.append([fmt(theta, 6), fmt(g, 6), fmt(m, 6), fmt(v, 6), fmt(step, 6)])
    theta += step
    thetas.append(theta)
report.math(
    r"""
m_t = \beta_1 m_{t-1} + (1-\beta_1)\,g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2,\quad
\theta_t = \theta_{t-1} - \frac{\mathrm{lr}}{1-\beta_1^t}\,\frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}
"""
)
report.text(
    f"""
    m is a running mean of the gradient, v of its square; both start at 0, and dividing by 1 - βᵗ
    undoes that bias towards 0 (at t = 1: m/(1-β₁) = g and v/(1-β₂) = g²). So the **first step is
    lr · g/(|g| + ε) ≈ ±lr, whatever the size of g**: Adam's step is set by lr, in the units of θ, and
    the gradient only contributes its sign and its consistency over time. Here lr = {lr_adam},
    β = ({b1}, {b2}), ε = {eps_adam:g}.
    """
)
adam = steps_table("Adam", rows, thetas, lambda ps: optim.Adam(ps, lr=lr_adam),
                   lambda ps: torch.optim.Adam(ps, lr=lr_adam), ["m", "v"])
report.claim(abs(abs(adam[0]) - lr_adam) < 1e-8, "Adam's first step is lr in size", f"|Δθ₁| = {abs(adam[0]):.10f}")
scaled = run_scratchnet(lambda ps: optim.Adam(ps, lr=lr_adam), 1, theta0=TARGET - 3000.0)[0] - (TARGET - 3000.0)
report.claim(abs(abs(scaled) - lr_adam) < 1e-8, "with a gradient 1000 times larger the first step is still lr",
             f"g = {loss_1d(TARGET - 3000.0)[1]:g}: |Δθ₁| = {abs(scaled):.10f}")

# %% [markdown]
# ## Adadelta
#
# $E[g^2] \leftarrow \rho E[g^2] + (1-\rho) g^2$, $\Delta = \frac{\sqrt{E[\Delta^2] + \epsilon}}{\sqrt{E[g^2] + \epsilon}}\, g$,
# $E[\Delta^2] \leftarrow \rho E[\Delta^2] + (1-\rho)\Delta^2$, $\theta \leftarrow \theta - \text{lr}\cdot\Delta$.

# %%
report.section("Adadelta: a step size from the history of steps")
lr_ad, rho, eps_ad = 1.0, 0.9, 1e-6
theta, sq, acc, rows, thetas = 0.0, 0.0, 0.0, [], []
for t in range(3):
    _, g = loss_1d(theta)
    sq = rho * sq + (1 - rho) * g * g
    delta = np.sqrt(acc + eps_ad) / np.sqrt(sq + eps_ad) * g
    acc = rho * acc + (1 - rho) * delta * delta
    rows.append([fmt(theta, 6), fmt(g, 6), fmt(sq, 6), fmt(acc, 6), fmt(-lr_ad * delta, 6)])
    theta -= lr_ad * delta
    thetas.append(theta)
report.math(
    r"""
E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2,\quad
\Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t,\quad
E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho)\Delta_t^2,\quad
\theta_t = \theta_{t-1} - \mathrm{lr}\,\Delta_t
"""
)
first = np.sqrt(eps_ad / (1 - rho))
report.text(
    f"""
    Adadelta divides the root-mean-square of past *steps* by that of past *gradients*, so the step has
    the units of θ and needs no learning rate (torch's lr = 1 only scales it). But E[Δ²] starts at 0, so
    the first step is √ε / √((1-ρ)g² + ε) · g ≈ √(ε/(1-ρ)) = {fmt(first)} for any sizeable gradient:
    **Adadelta starts with tiny steps** and speeds up as E[Δ²] fills. ρ = {rho}, ε = {eps_ad:g}.
    """
)
adad = steps_table("Adadelta", rows, thetas, lambda ps: optim.Adadelta(ps, lr=lr_ad),
                   lambda ps: torch.optim.Adadelta(ps, lr=lr_ad), ["E[g²]", "E[Δ²]"])
report.claim(abs(abs(adad[0]) / first - 1) < 0.01, "Adadelta's first step is √(ε/(1-ρ)) to within 1%",
             f"|Δθ₁| = {abs(adad[0]):.3e}, √(ε/(1-ρ)) = {first:.3e}")
report.claim(abs(adad[2] - adad[1]) > abs(adad[1] - adad[0]) > abs(adad[0]), "and its steps grow")

# %% [markdown]
# ## Two loss surfaces
#
# An ill-conditioned quadratic $f = \tfrac12(x^2 + 25y^2)$ (25 times steeper along y) and the Rosenbrock
# valley $f = (1-x)^2 + 100(y-x^2)^2$.

# %%
report.section("Trajectories on two 2-D loss surfaces")
KAPPA = 25.0


def quadratic(p):
    x, y = p
    return 0.5 * (x * x + KAPPA * y * y), np.array([x, KAPPA * y])


def rosenbrock(p):
    x, y = p
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2, np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def trajectory(surface, start, make, steps):
    p = Parameter(np.array(start, dtype=np.float64))
    opt = make([p])
    path, losses = [p.data.copy()], []
    for _ in range(steps):
        loss, grad = surface(p.data)
        losses.append(loss)
        p.grad = grad
        opt.step()
        path.append(p.data.copy())
    losses.append(surface(p.data)[0])
    return np.array(path), np.array(losses)


def torch_trajectory(surface, start, make, steps, follow=None):
    """torch.optim on the same surface. With ``follow`` (a path), every step starts from that path's
    point instead of torch's own (the optimiser state is torch's): the update rules are compared
    step by step, without letting one-ulp differences compound."""
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = make([p])
    path = [p.detach().numpy().copy()]
    for i in range(steps):
        if follow is not None:
            with torch.no_grad():
                p.copy_(torch.from_numpy(follow[i]))
        p.grad = torch.tensor(surface(p.detach().numpy())[1])
        opt.step()
        path.append(p.detach().numpy().copy())
    return np.array(path)


for name, surface, point in (("quadratic", quadratic, (0.7, -0.3)), ("Rosenbrock", rosenbrock, (-1.2, 0.8))):
    p0 = np.array(point)
    numeric = np.array([(surface(p0 + e)[0] - surface(p0 - e)[0]) / 2e-6 for e in np.eye(2) * 1e-6])
    report.parity(f"{name} gradient at {point}", surface(p0)[1], numeric, 1e-8, ("formula", "centred differences"))

SURFACES = {
    "quadratic": (quadratic, (-4.5, 1.5), 100, {
        "SGD (lr 0.07)": (lambda ps: optim.SGD(ps, lr=0.07), lambda ps: torch.optim.SGD(ps, lr=0.07)),
        "momentum (lr 0.07, μ 0.5)": (lambda ps: optim.SGD(ps, lr=0.07, momentum=0.5),
                                      lambda ps: torch.optim.SGD(ps, lr=0.07, momentum=0.5)),
        "Adam (lr 0.3)": (lambda ps: optim.Adam(ps, lr=0.3), lambda ps: torch.optim.Adam(ps, lr=0.3)),
        "Adadelta (lr 1)": (lambda ps: optim.Adadelta(ps, lr=1.0), lambda ps: torch.optim.Adadelta(ps, lr=1.0)),
    }),
    "Rosenbrock": (rosenbrock, (-1.5, 2.0), 1000, {
        "SGD (lr 1e-3)": (lambda ps: optim.SGD(ps, lr=1e-3), lambda ps: torch.optim.SGD(ps, lr=1e-3)),
        "momentum (lr 1e-3, μ 0.9)": (lambda ps: optim.SGD(ps, lr=1e-3, momentum=0.9),
                                      lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9)),
        "Adam (lr 0.05)": (lambda ps: optim.Adam(ps, lr=0.05), lambda ps: torch.optim.Adam(ps, lr=0.05)),
        "Adadelta (lr 1)": (lambda ps: optim.Adadelta(ps, lr=1.0), lambda ps: torch.optim.Adadelta(ps, lr=1.0)),
    }),
}
report.text(
    """
    Each optimiser runs on each surface from the same start with the analytic gradient. Against
    torch.optim we compare every step *in lockstep*: before each step torch's parameter is set to
    scratchnet's, so each update rule is compared on the same point and history. The last column also
    lets both run freely, each from its own previous point, and reports how far apart they end.
    """
)
results = {}
rows = []
for sname, (surface, start, steps, configs) in SURFACES.items():
    for oname, (make, make_torch) in configs.items():
        path, losses = trajectory(surface, start, make, steps)
        results[sname, oname] = (path, losses)
        drift = "—"
        report.claim(losses[-1] < losses[0], f"{sname}, {oname}: the loss went down",
                     f"{fmt(losses[0])} -> {fmt(losses[-1])}")
        if torch is not None:
            lockstep = torch_trajectory(surface, start, make_torch, steps, follow=path)
            report.parity(f"{sname}, {oname}: each of {steps} steps", np.diff(path, axis=0),
                               lockstep[1:] - path[:-1], 1e-12, ("scratchnet.optim", "torch.optim, lockstep"))
            free = torch_trajectory(surface, start, make_torch, steps)
            drift = f"{np.abs(free - path).max():.1e}"
            results[sname, oname] += (np.abs(free - path).max(axis=1),)
        rows.append([sname, oname, str(steps), fmt(losses[0]), fmt(losses[steps // 10]), fmt(losses[-1]),
                     f"({path[-1, 0]:.3f}, {path[-1, 1]:.3f})", drift])
if torch is None:
    report.note_skip("step-by-step parity with torch.optim (torch is not installed)")
report.table(["surface", "optimiser", "steps", "loss at start", "after 10%", "at the end", "end point",
              "free-running max |scratchnet - torch|"], rows)

path_sgd = results["quadratic", "SGD (lr 0.07)"][0]
path_adam = results["quadratic", "Adam (lr 0.3)"][0]
adam_first = np.abs(np.diff(path_adam[:6], axis=0))  # the first five steps, |dx| and |dy|
adam_undershoot = float(path_adam[:, 1].min())
ada_losses = results["Rosenbrock", "Adadelta (lr 1)"][1]
ada_best = int(np.argmin(ada_losses))
zigzag = np.all(np.sign(path_sgd[1:8, 1]) == -np.sign(path_sgd[:7, 1]))
_, unstable = trajectory(quadratic, (-4.5, 1.5), lambda ps: optim.SGD(ps, lr=0.085), 100)
report.text(
    f"""
    **Quadratic.** The curvature is 1 along x and {KAPPA:g} along y. Gradient descent multiplies the
    y-coordinate by (1 - lr·{KAPPA:g}) every step: with lr = 0.07 that is {1 - 0.07 * KAPPA:+.2f}, so y flips
    sign at every step (the zigzag in the figure) while x shrinks by only (1 - 0.07) per step. Any lr above
    2/{KAPPA:g} = {2 / KAPPA:g} makes |1 - lr·{KAPPA:g}| > 1 and the iteration diverges: with lr = 0.085 the
    loss after 100 steps is {fmt(unstable[-1])}. The steep direction caps the learning rate, and the flat
    direction then crawls — that is what *ill-conditioned* means. Momentum with the *same* lr adds half of
    the previous step to each new one: the alternating y-steps partly cancel, the x-steps (all the same
    sign) add up, and the loss falls far faster. Adam rescales each coordinate by its own gradient size,
    so at first *both* coordinates move by about lr = 0.3 per step, whatever their gradients
    (first five steps: |Δx| from {fmt(adam_first[:, 0].min(), 3)} to {fmt(adam_first[:, 0].max(), 3)}, |Δy|
    from {fmt(adam_first[:, 1].min(), 3)} to {fmt(adam_first[:, 1].max(), 3)}). It therefore does **not**
    head for the minimum: it travels along the diagonal, at 45°, while the minimum lies at
    {np.degrees(np.arctan2(1.5, 4.5)):.0f}° from the start; y reaches 0 long before x does and overshoots
    to {fmt(adam_undershoot, 2)}, and the path then curls in and circles the minimum at a scale set by lr.
    Adadelta with its default settings is still taking small, growing steps.

    **Rosenbrock.** The minimum (1, 1) lies at the end of a long, curved, nearly flat valley. Every method
    falls into the valley quickly; the difference is how fast it then travels along the floor, where the
    gradient is small: plain SGD crawls, momentum builds up speed along the floor, Adam's steps do not
    shrink with the gradient. Adadelta's loss is **not monotone**: it is lowest at step {ada_best}
    ({fmt(ada_losses[ada_best])}) and then rises, to {fmt(ada_losses[-1])} at step {len(ada_losses) - 1}. Adadelta
    has no learning rate to cap its step: the step is the RMS of its own past steps over the RMS of past
    gradients, and that ratio keeps growing while it travels along the valley floor; where the valley
    bends, steps of that size overshoot the narrow floor and climb its walls, and the loss goes up.
    """
)
report.claim(np.all(np.abs(adam_first / 0.3 - 1) < 0.15),
             "Adam's first five steps move both coordinates by about lr = 0.3 (to 15%): a diagonal, not the gradient's direction")
report.claim(adam_undershoot < -0.3, "Adam overshoots y = 0 by more than 0.3 on the quadratic", f"min y {fmt(adam_undershoot, 3)}")
report.claim(500 < ada_best < len(ada_losses) - 1 and ada_losses[-1] > 1.2 * ada_losses[ada_best],
             "Adadelta's Rosenbrock loss reaches its minimum late and then rises by more than 20 %",
             f"lowest {fmt(ada_losses[ada_best])} at step {ada_best}, {fmt(ada_losses[-1])} at the end")
if torch is not None:
    from fractions import Fraction

    worst = max(((k, v[2]) for k, v in results.items()), key=lambda kv: kv[1].max())
    (ws, wo), wdrift = worst
    first = int(np.argmax(wdrift > 0)) if wdrift.max() > 0 else None
    # Where does a one-ulp difference come from? Compare torch's p.add_(g, alpha=-lr) with NumPy's p - lr*g.
    probe_rng = np.random.default_rng(0)
    pp, gg = probe_rng.normal(size=4000), probe_rng.normal(size=4000)
    tp = torch.tensor(pp)
    tp.add_(torch.tensor(gg), alpha=-1e-3)
    differ = np.flatnonzero(tp.numpy() != pp - 1e-3 * gg)
    one_rounding = np.array([float(Fraction(pp[i]) - Fraction(1e-3) * Fraction(gg[i])) for i in differ])
    if differ.size:
        cause = (
            f"One source is visible directly: torch's `p.add_(g, alpha=-lr)` differs from NumPy's `p - lr*g` in "
            f"{differ.size} of {pp.size} random cases, and each time torch's result is the *exactly rounded* "
            f"p - lr·g (a fused multiply-add: one rounding where NumPy makes two)."
        )
    else:
        cause = "On this machine torch's `p.add_(g, alpha=-lr)` rounds exactly like NumPy's `p - lr*g`."
    report.text(
        f"""
        **Same rule, different rounding.** Step by step the two libraries agree to round-off. Left to run
        freely they can still drift apart: for {wo} on the {ws} surface the first difference (one unit in
        the last place) appears at step {first}, and after {len(wdrift) - 1} steps the two points are
        {wdrift[-1]:.1e} apart. {cause} An iteration that is sensitive to its starting point amplifies
        such a difference step after step, which is why parity tests compare one step from the same
        state, or short runs.
        """
    )
    if differ.size:
        report.check_close("torch's SGD update where it differs from NumPy's", tp.numpy()[differ], one_rounding, 0.0,
                           ("torch add_(alpha)", "exactly rounded p - lr*g"))
report.claim(zigzag, "SGD with lr = 0.07 on the quadratic: y changes sign at every one of the first 7 steps")
report.claim(unstable[-1] > unstable[0], "SGD with lr = 0.085 > 2/25 diverges on the quadratic",
             f"loss {fmt(unstable[0])} -> {fmt(unstable[-1])}")
final = {k: v[1][-1] for k, v in results.items()}
report.claim(final["quadratic", "momentum (lr 0.07, μ 0.5)"] < 1e-3 * final["quadratic", "SGD (lr 0.07)"],
             "on the quadratic, momentum at the same lr ends more than 1000 times lower than SGD",
             f"{fmt(final['quadratic', 'momentum (lr 0.07, μ 0.5)'])} vs {fmt(final['quadratic', 'SGD (lr 0.07)'])}")
report.claim(final["Rosenbrock", "Adam (lr 0.05)"] < final["Rosenbrock", "SGD (lr 1e-3)"]
             and final["Rosenbrock", "momentum (lr 1e-3, μ 0.9)"] < final["Rosenbrock", "SGD (lr 1e-3)"],
             "on Rosenbrock, Adam and momentum end lower than plain SGD")

# %%
fig = Figure(figsize=(12, 9.5))
axes = fig.subplots(2, 2)
colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
for col, (sname, (surface, start, steps, configs)) in enumerate(SURFACES.items()):
    ax = axes[0, col]
    if sname == "quadratic":
        gx, gy = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-2, 2, 200))
        levels = np.logspace(-2, 2, 15)
    else:
        gx, gy = np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-1, 3, 200))
        levels = np.logspace(-1, 3.5, 15)
    gz = surface(np.stack([gx, gy]))[0]
    ax.contour(gx, gy, gz, levels=levels, colors="lightgray", linewidths=0.8)
    every = 1 if steps <= 100 else steps // 40
    for colour, style, oname in zip(colours, ["-", "-", "--", ":"], configs):
        path = results[sname, oname][0]
        ax.plot(path[:, 0], path[:, 1], style, color=colour, lw=1.4, label=oname, marker=".", ms=4, markevery=every)
    for colour, oname in zip(colours, configs):
        ax.plot(*results[sname, oname][0][-1], "X", color=colour, ms=9, mec="black", mew=0.8)
    ax.plot(*start, "ko", ms=6)
    ax.plot(0 if sname == "quadratic" else 1, 0 if sname == "quadratic" else 1, "k*", ms=12)
    ax.set_title(f"{sname}: {steps} steps from {start}\n● start, ★ minimum, ✕ where each optimiser ended", fontsize=10)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize=8, loc="lower right" if sname == "quadratic" else "upper right")
    ax = axes[1, col]
    for colour, oname in zip(colours, configs):
        ax.semilogy(results[sname, oname][1], color=colour, label=oname)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{sname}: loss per step")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
fig.suptitle("The same gradients, four update rules")
report.figure(fig, "trajectories", "Trajectories (top) and loss per step (bottom) on an ill-conditioned quadratic and on Rosenbrock's valley.")

# %%
report_path = report.finish()  # the markdown report; its figures are beside it
