"""ResNet18 fine-tuning: what each protocol trains, input resizing, and where ImageNet weights come from."""

from __future__ import annotations

import pytest
import torch

import torchref.resnet as resnet_mod
from torchref.data import to_device
from torchref.recipes import build_optimizer, recipe_for
from torchref.resnet import (RESNET18_IMAGENET_FILE, WeightsNotFoundError, build_resnet18,
                             locate_imagenet_weights)
from torchref.train import fit
from scratchnet.run.provenance import portable_path

from .test_torchref_train import digits

FC = ["resnet.fc.weight", "resnet.fc.bias"]


def _trainable(model) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


@pytest.mark.parametrize("protocol, expected_names, expected_count", [
    ("workshop", ["resnet.conv1.weight", *FC], 64 * 1 * 7 * 7 + 512 * 10 + 10),
    ("linear-probe", FC, 512 * 10 + 10),
    ("full", None, 11_181_642),
])
def test_each_protocol_trains_exactly_its_parameters(protocol, expected_names, expected_count):
    model = build_resnet18(protocol, weights="none")
    names = _trainable(model)
    if expected_names is None:
        assert names == [n for n, _ in model.named_parameters()]  # every tensor
    else:
        assert names == expected_names
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected_count
    assert model.resnet.conv1.in_channels == (1 if protocol == "workshop" else 3)
    assert model.resnet.fc.out_features == 10
    opt, _ = build_optimizer(recipe_for("resnet18", protocol), model)
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == expected_count


def test_frozen_parameters_do_not_move_and_new_layers_do():
    x, y = digits(16)
    data = to_device(x, y, normalization="half")
    torch.manual_seed(0)
    model = build_resnet18("workshop", weights="none")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt, _ = build_optimizer(recipe_for("resnet18", "workshop"), model)
    hist = fit(model, opt, data, epochs=1, batch_size=8, progress=False, model_name="ResNet18-workshop").to_dict()
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert changed == ["resnet.conv1.weight", *FC]
    assert hist["trainable_parameters"] == 8266 and hist["model"] == "ResNet18-workshop"


def test_linear_probe_keeps_batchnorm_statistics_frozen():
    torch.manual_seed(0)
    model = build_resnet18("linear-probe", weights="none").train()
    assert model.training and not model.resnet.bn1.training and model.resnet.fc.training
    before = model.resnet.bn1.running_mean.clone()
    model(torch.rand(4, 1, 28, 28))
    assert torch.equal(model.resnet.bn1.running_mean, before)
    workshop = build_resnet18("workshop", weights="none").train()
    assert workshop.resnet.bn1.training  # as the workshop: batch statistics


@pytest.mark.parametrize("size", [28, 64])
@pytest.mark.parametrize("protocol", ["workshop", "full"])
def test_image_size_resizes_on_the_device(size, protocol):
    torch.manual_seed(0)
    model = build_resnet18(protocol, weights="none", image_size=size).eval()
    x = torch.rand(2, 1, 28, 28)
    prepared = model.prepare(x)
    assert prepared.shape == (2, 1 if protocol == "workshop" else 3, size, size)
    if size == 28:
        base = x if protocol == "workshop" else (x.expand(-1, 3, -1, -1) - torch.tensor(resnet_mod.IMAGENET_MEAN).view(1, 3, 1, 1)) \
            / torch.tensor(resnet_mod.IMAGENET_STD).view(1, 3, 1, 1)
        torch.testing.assert_close(prepared, base, rtol=0, atol=0)
    else:
        resized = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        torch.testing.assert_close(prepared[:, :1] if protocol == "workshop" else prepared[:, 1:2] * 0.224 + 0.456,
                                   resized, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        assert model(x).shape == (2, 10)


def test_imagenet_weights_load_from_an_explicit_file(fake_imagenet_file, no_network):
    path, state = fake_imagenet_file
    torch.manual_seed(0)
    model = build_resnet18("linear-probe", weights="imagenet", weights_file=path)
    for k in ("conv1.weight", "layer3.1.bn2.running_var", "layer4.0.downsample.0.weight"):
        assert torch.equal(model.resnet.state_dict()[k], state[k]), k
    used = model.info["weights"]
    assert used["source"] == "file" and used["file"] == path.name and len(used["sha256"]) == 64
    assert used["location"] == portable_path(path) and str(path.parent) not in str(used)  # no machine's folder
    assert used["description"].startswith(f"imagenet (file {path.name}, sha256 {used['sha256']})")
    assert used["matches_torchvision_hash"] is False and "NOT torchvision's" in used["description"]
    assert no_network == []


def test_imagenet_weights_load_from_the_hub_cache(fake_imagenet_file, no_network, monkeypatch, tmp_path):
    path, state = fake_imagenet_file
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / RESNET18_IMAGENET_FILE).write_bytes(path.read_bytes())
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    model = build_resnet18("workshop", weights="imagenet")
    assert torch.equal(model.resnet.state_dict()["layer1.0.conv1.weight"], state["layer1.0.conv1.weight"])
    assert model.info["weights"]["source"] == "hub cache"
    assert f"hub cache {RESNET18_IMAGENET_FILE}, sha256 " in model.info["weights"]["description"]
    assert model.info["weights"]["location"] == portable_path(hub / "checkpoints" / RESNET18_IMAGENET_FILE)
    assert no_network == []


def test_missing_imagenet_weights_are_an_error_listing_every_place(no_network, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    with pytest.raises(WeightsNotFoundError) as err:
        build_resnet18("workshop", weights="imagenet")
    msg = str(err.value)
    assert str(tmp_path / "empty-hub" / "checkpoints" / RESNET18_IMAGENET_FILE) in msg
    assert resnet_mod.RESNET18_IMAGENET_URL in msg and "offline (test)" in msg
    assert "--weights none" in msg
    assert no_network == [resnet_mod.RESNET18_IMAGENET_URL]
    with pytest.raises(WeightsNotFoundError, match="downloads are off"):
        locate_imagenet_weights(download=False)
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        build_resnet18("full", weights="imagenet", weights_file=tmp_path / "nope.pth")


def test_a_file_that_is_not_resnet18_weights_is_refused(tmp_path, no_network):
    path = tmp_path / "other.pth"
    torch.save({"conv1.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not a ResNet18 ImageNet state_dict"):
        build_resnet18("workshop", weights_file=path)


def test_random_init_is_recorded_as_such():
    model = build_resnet18("full", weights="none")
    assert model.info["weights"]["description"] == "none (random init)"


def test_torchref_builds_torchvisions_resnet18_itself():
    """No vendored copy: every protocol's network is a torchvision.models.ResNet, built by torchvision's
    resnet18 with torchvision's init, keys and shapes."""
    import torchvision

    for protocol in resnet_mod.PROTOCOLS:
        model = build_resnet18(protocol, weights="none")
        assert type(model.resnet) is torchvision.models.ResNet
        assert model.info["architecture"].startswith("torchvision.models.resnet18 (torchvision ")
    torch.manual_seed(5)
    theirs = torchvision.models.resnet18(weights=None).eval()
    torch.manual_seed(5)
    ours = resnet_mod.resnet18_architecture()[0].eval()
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b) and len(a) == 122
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not hasattr(resnet_mod, "ResNet") and not hasattr(resnet_mod, "BasicBlock")
