"""The walkthroughs' registry: each name, its script in ``notebooks/`` and what it shows.

Its own module so that the package (which runs them) and ``_report`` (whose header names the script)
both import it, and neither imports the other.
"""

from __future__ import annotations

__all__ = ["WALKTHROUGHS"]

#: name -> (script in notebooks/, what it shows). In reading order: the course path (the script numbers
#: are the order they were written in, not the order to read them).
WALKTHROUGHS: dict[str, tuple[str, str]] = {
    "chain_rule": (
        "08_chain_rule.py",
        "the chain rule on a scalar graph: add distributes, multiply swaps, max routes, a copy sums; a tiny reverse-mode engine",
    ),
    "linear_softmax": (
        "01_linear_softmax.py",
        "Linear + softmax cross-entropy on 3 samples: logits, p, loss, dL/dz = (p - onehot)/N, dW, db, dx",
    ),
    "mlp_by_hand": (
        "09_mlp_by_hand.py",
        "a two-layer MLP backpropagated by hand: 2-D spirals (linear vs MLP), then the same code on MNIST",
    ),
    "gradient_checking": (
        "06_gradient_checking.py",
        "centred differences, relative error, float32 vs float64 step sizes, ReLU kinks",
    ),
    "softmax_and_init": (
        "10_softmax_and_init.py",
        "softmax overflow and the max shift, log-sum-exp; the initialisation variance derived (Kaiming, Xavier, torch's default)",
    ),
    "conv2d": (
        "02_conv2d.py",
        "convolution as a sliding window; dW as a correlation, dx as a full convolution; im2col",
    ),
    "pooling_relu_dropout": (
        "03_pooling_relu_dropout.py",
        "where max-pooling sends the gradient (ties, overlaps); ReLU and inverted-dropout masks",
    ),
    "optimizers": (
        "04_optimizers.py",
        "SGD, momentum, Adam, Adadelta by hand next to scratchnet.optim; trajectories on 2-D surfaces",
    ),
    "seedcnn_step": (
        "05_seedcnn_step.py",
        "one SeedCNN training step on one MNIST digit: every activation and gradient, the Adam update",
    ),
    "training_mnist": (
        "11_training_mnist.py",
        "a full training loop on MNIST with the sanity checks (ln 10, overfit 20 images, update/weight ~1e-3), "
        "learning curves, confusion matrix, filters, feature maps, saliency",
    ),
    "vanishing_exploding": (
        "07_vanishing_exploding.py",
        "gradient norm per layer in 20-layer sigmoid and ReLU nets under different initialisations",
    ),
    "batchnorm_residual": (
        "12_batchnorm_residual.py",
        "batch norm's backward through its three paths, residual connections that fork and sum; the 20-layer sigmoid net trained",
    ),
}
