"""scratchnet's ResNet18MNIST is torchref's twin under each fine-tuning protocol: the same trainable
parameters, the same outputs from the same weights, the same gradients of what trains, and BatchNorm
frozen for the linear probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchnet import models, optim
from scratchnet.gradcheck import check_module
from torchref.resnet import build_resnet18
from torchref.transfer import to_scratch


@pytest.mark.parametrize("protocol", models.PROTOCOLS)
def test_each_protocol_matches_torch_forward_and_trainable_gradients(protocol, one_numba_thread, one_torch_thread):
    torch.manual_seed(0)
    twin = build_resnet18(protocol, weights="none").double()
    ours = models.ResNet18MNIST(protocol, dtype=np.float64)
    to_scratch(twin, ours.resnet)
    trainable = [n for n, p in ours.named_parameters() if p.requires_grad]
    assert trainable == [n for n, p in twin.named_parameters() if p.requires_grad]
    x = np.random.default_rng(1).random((3, 1, 28, 28))
    y = np.array([1, 4, 7])
    twin.train()
    ours.train()
    out = twin(torch.tensor(x))
    torch.nn.functional.cross_entropy(out, torch.tensor(y)).backward()
    loss = ours.make_loss()
    np.testing.assert_allclose(ours(x), out.detach().numpy(), rtol=1e-10, atol=1e-12)
    loss(ours(x), y)
    ours.backward(loss.backward(), input_grad=False)
    grads = dict(twin.named_parameters())
    for name in trainable:
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad, grads[name].grad.numpy(), rtol=1e-8,
                                   atol=1e-12, err_msg=f"scratchnet vs torch: {name}")
    frozen_stats = protocol == "linear-probe"
    assert all((not m.training) == frozen_stats for m in ours.resnet.modules() if isinstance(m, models.BatchNorm2d))


def test_the_input_transform_backward_passes_a_gradient_check():
    t = models.InputTransform(3, models.IMAGENET_MEAN, models.IMAGENET_STD)
    assert check_module(t, np.random.default_rng(0).random((2, 1, 5, 5))).max_error < 1e-7


def test_frozen_protocols_leave_the_backbone_untouched_by_a_training_step(one_numba_thread):
    ours = models.ResNet18MNIST("workshop", rng=0)
    before = ours.state_dict()
    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss = ours.make_loss()
    loss(ours(np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)), np.arange(4))
    opt.zero_grad()
    ours.backward(loss.backward(), input_grad=False)
    opt.step()
    changed = [k for k, v in ours.state_dict().items() if not np.array_equal(v, before[k]) and "running" not in k
               and "num_batches" not in k]
    assert changed == ["resnet.conv1.weight", "resnet.fc.weight", "resnet.fc.bias"]
