"""Tests for ganforge.metrics.vgg: VGG19's features and the perceptual loss against a reference written here
with torch.nn.functional on the same weights, and the weights' download.

The weights are a seeded stand-in with the names and shapes of torchvision's published vgg19 file (its
`classifier.*` keys smaller, since they are dropped); the real file is never downloaded here.
"""

from __future__ import annotations

import math
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ganforge.data.download import file_digest
from ganforge.errors import UserError
from ganforge.metrics import vgg
from ganforge.metrics.vgg import (
    WEIGHTS_FILE,
    WEIGHTS_URL,
    LazyPerceptual,
    PerceptualLoss,
    VGG19Features,
    load_vgg19,
    weights_path,
)
from ganforge.registry import RECONSTRUCTION_LOSSES

# torchvision's vgg19().features: the index of each conv in the Sequential, its name (BasicSR), its channels
CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
NAMES = [f"conv{b}_{n}" for b, count in zip(range(1, 6), (2, 2, 4, 4, 4), strict=True) for n in range(1, count + 1)]
CHANNELS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256)] + [(256, 256)] * 3 + [(256, 512)]
CHANNELS += [(512, 512)] * 7
POOLED = {"conv1_2", "conv2_2", "conv3_4", "conv4_4"}  # a 2x2 max pool follows their ReLU
WEIGHTS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}  # Real-ESRGAN's
GRADIENT_TOLERANCE = 5e-3  # |ours - reference| / |reference| of the gradient
TOLERANCE = 1e-5  # max |ours (float32) - reference (float64)| relative to the reference's largest value


def stand_in_weights() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(19)
    state = {}
    for index, (cin, cout) in zip(CONVS, CHANNELS, strict=True):
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * math.sqrt(2 / (9 * cin))
        state[f"features.{index}.bias"] = torch.randn(cout, generator=g) * 0.1
    for index, shape in ((0, (8, 16)), (3, (8, 8)), (6, (10, 8))):  # 25088 -> 4096 -> 4096 -> 1000 in the real one
        state[f"classifier.{index}.weight"] = torch.randn(*shape, generator=g)
        state[f"classifier.{index}.bias"] = torch.randn(shape[0], generator=g)
    return state


def reference(state: dict, images: torch.Tensor, layers, normalise: bool = True) -> dict[str, torch.Tensor]:
    """VGG19's pre-ReLU conv outputs in float64, read straight from the state dict."""
    x = images.double()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if normalise:
        mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
        x = ((x + 1) / 2 - mean) / std
    out = {}
    for name, index in zip(NAMES, CONVS, strict=True):
        w, b = state[f"features.{index}.weight"].double(), state[f"features.{index}.bias"].double()
        x = F.conv2d(x, w, b, padding=1)
        if name in layers:
            out[name] = x
        x = F.relu(x)
        if name in POOLED:
            x = F.max_pool2d(x, 2, 2)
    return out


def reference_loss(state: dict, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    f, r = reference(state, fake, WEIGHTS), reference(state, real, WEIGHTS)
    return sum(w * (f[name] - r[name]).abs().mean() for name, w in WEIGHTS.items())


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours.double() - ref).abs().max() / ref.abs().max()).item()


def images(seed: int, channels: int = 3) -> torch.Tensor:
    return torch.rand(2, channels, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    return stand_in_weights()


@pytest.fixture(scope="module")
def served(tmp_path_factory, weights) -> Path:
    path = tmp_path_factory.mktemp("server") / "vgg19.pth"
    torch.save(weights, path)
    return path


@pytest.fixture
def offline(monkeypatch) -> list[str]:
    """No download reaches the network; the URLs asked for are recorded."""
    asked: list[str] = []

    def refuse(request, *args, **kwargs):
        asked.append(getattr(request, "full_url", request))
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return asked


@pytest.fixture(scope="module")
def net(tmp_path_factory, served) -> VGG19Features:
    cache = tmp_path_factory.mktemp("cache")
    shutil.copy(served, cache / WEIGHTS_FILE)
    return load_vgg19(cache=cache, sha256=file_digest(served, "sha256"))


# ------------------------------------------------------------------------------------------ network


def test_keys_are_torchvisions():
    keys = [f"features.{i}.{kind}" for i in CONVS for kind in ("weight", "bias")]
    assert list(VGG19Features().state_dict()) == keys


def test_features_match_the_reference(net, weights):
    x = images(0)
    with torch.no_grad():
        ours = net(x, ["conv1_2", "conv3_4", "conv5_4", "conv4_1"])
        ref = reference(weights, x, ours)
        unnormalised = reference(weights, x, ours, normalise=False)
    assert list(ours) == ["conv1_2", "conv3_4", "conv5_4", "conv4_1"]
    assert ours["conv1_2"].shape == (2, 64, 32, 32) and ours["conv5_4"].shape == (2, 512, 2, 2)
    for name in ours:
        assert ours[name].dtype == torch.float32
        assert relative_error(ours[name], ref[name]) < TOLERANCE, name
        assert (ref[name] < 0).any()  # before the ReLU
        assert relative_error(ours[name], unnormalised[name]) > 1000 * TOLERANCE  # the normalisation counts


def test_gray_is_repeated(net, weights):
    gray = images(1, channels=1)
    with torch.no_grad():
        ours = net(gray, ["conv2_2"])["conv2_2"]
        assert torch.equal(ours, net(gray.expand(-1, 3, -1, -1), ["conv2_2"])["conv2_2"])
    assert relative_error(ours, reference(weights, gray, ["conv2_2"])["conv2_2"]) < TOLERANCE


def test_only_up_to_the_deepest_layer(net):
    ran = []
    hooks = [net.features[i].register_forward_hook(lambda m, a, o, i=i: ran.append(i)) for i in CONVS]
    try:
        with torch.no_grad():
            net(images(0), ["conv2_2", "conv1_1"])
    finally:
        for hook in hooks:
            hook.remove()
    assert ran == [0, 2, 5, 7]


def test_bad_layer_or_channels(net):
    with pytest.raises(ValueError, match="conv6_1"):
        net(images(0), ["conv6_1"])
    with pytest.raises(UserError, match=r"\(2, 4, 32, 32\)"):
        net(torch.zeros(2, 4, 32, 32), ["conv1_1"])
    with pytest.raises(ValueError, match="conv3_5"):
        PerceptualLoss(net, {"conv3_5": 1.0})


# ------------------------------------------------------------------------------------ perceptual loss


@pytest.mark.parametrize("channels", [3, 1])
def test_perceptual_loss_value_and_gradient(net, weights, channels):
    fake, real = images(2, channels).requires_grad_(True), images(3, channels)
    loss = PerceptualLoss(net)
    assert loss.weights == WEIGHTS
    value = loss(fake, real)
    value.backward()

    fake64 = fake.detach().double().requires_grad_(True)
    expected = reference_loss(weights, fake64, real)
    expected.backward()
    assert value.dtype == torch.float32 and value.dim() == 0
    assert abs(value.item() - expected.item()) < TOLERANCE * expected.item()
    assert fake.grad.shape == (2, channels, 32, 32)
    # float32 rounding flips a few ReLU and max-pool decisions next to ties, each of which moves the gradient of
    # a few pixels: the whole gradient agrees to about 1e-3 (a float32 reference does no better)
    assert ((fake.grad.double() - fake64.grad).norm() / fake64.grad.norm()).item() < GRADIENT_TOLERANCE
    assert all(p.grad is None and not p.requires_grad for p in net.parameters())


def test_perceptual_loss_is_float32_under_autocast(net):
    fake, real = images(4), images(5)
    loss = PerceptualLoss(net)
    with torch.no_grad():
        exact = loss(fake, real)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = loss(fake, real)
            assert F.conv2d(fake, net.features[0].weight).dtype == torch.bfloat16  # autocast is on here
    assert mixed.dtype == torch.float32
    assert abs(mixed.item() - exact.item()) < 1e-6 * exact.item()


def test_perceptual_loss_keeps_the_network_frozen(net):
    loss = PerceptualLoss(net).train()
    assert loss.training and not net.training
    assert not any(p.requires_grad for p in loss.parameters())
    assert PerceptualLoss(net)(images(6), images(6)).item() == 0


def test_lazy_perceptual_is_registered_and_loads_once(net, monkeypatch):
    registered = RECONSTRUCTION_LOSSES.get("perceptual")
    assert isinstance(registered, LazyPerceptual)
    assert registered._loss is None  # importing the module loaded nothing

    loads = []
    monkeypatch.setattr(vgg, "load_vgg19", lambda: loads.append(1) or net)
    lazy = LazyPerceptual()
    assert loads == []
    fake, real = images(7), images(8)
    first, second = lazy(fake, real), lazy(fake, real)
    assert len(loads) == 1
    expected = PerceptualLoss(net)(fake, real)
    assert first.item() == second.item() == pytest.approx(expected.item(), rel=1e-6)

    monkeypatch.setattr(registered, "_loss", None)  # restored after the test
    assert registered(fake, real).item() == pytest.approx(expected.item(), rel=1e-6)
    assert len(loads) == 2


# --------------------------------------------------------------------------------------- download


def test_load_reads_the_cache_without_network(net, served, weights, tmp_path, monkeypatch, offline):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    shutil.copy(served, tmp_path / WEIGHTS_FILE)
    assert weights_path() == tmp_path / WEIGHTS_FILE
    model = load_vgg19(sha256=file_digest(served, "sha256")[:8])  # a prefix, as torch.hub checks
    assert offline == []
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    state = model.state_dict()
    assert not any(k.startswith("classifier.") for k in state)
    assert all(torch.equal(state[k], weights[k]) for k in state)


def test_load_offline_names_the_url_and_the_path(tmp_path, offline):
    cache = tmp_path / "cache"
    with pytest.raises(UserError) as info:
        load_vgg19(cache=cache)
    message = str(info.value)
    assert offline == [WEIGHTS_URL]
    assert WEIGHTS_URL in message and str(cache / WEIGHTS_FILE) in message and "by hand" in message
    assert "\n" not in message


def test_load_missing_file_url(tmp_path):
    url = (tmp_path / "nowhere" / WEIGHTS_FILE).as_uri()
    with pytest.raises(UserError) as info:
        load_vgg19(cache=tmp_path / "cache", url=url)
    assert url in str(info.value) and str(tmp_path / "cache" / WEIGHTS_FILE) in str(info.value)


def test_load_wrong_checksum(served, tmp_path, offline):
    cache = tmp_path / "cache"
    with pytest.raises(UserError) as info:  # the stand-in is not the published file
        load_vgg19(cache=cache, url=served.as_uri())
    message = str(info.value)
    assert "checksum" in message and "dcbb9e9d" in message and "\n" not in message
    assert not (cache / WEIGHTS_FILE).exists()

    cache.mkdir(exist_ok=True)
    shutil.copy(served, cache / WEIGHTS_FILE)  # a cached file that is not the published one, and no network
    with pytest.raises(UserError) as info:
        load_vgg19(cache=cache)
    assert "checksum" in str(info.value) and str(cache / WEIGHTS_FILE) in str(info.value)


def test_load_mismatched_weights(weights, tmp_path):
    bad = dict(weights)
    del bad["features.34.bias"]
    bad["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    bad["head.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(bad, path)
    cache = tmp_path / "cache"
    with pytest.raises(UserError) as info:
        load_vgg19(cache=cache, url=path.as_uri(), sha256=file_digest(path, "sha256"))
    message = str(info.value)
    assert str(cache / WEIGHTS_FILE) in message and "\n" not in message
    assert "features.34.bias" in message and "head.weight" in message and "features.0.weight (64, 1, 3, 3)" in message


def test_load_unreadable_file(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"<html>not a checkpoint</html>")
    cache = tmp_path / "cache"
    with pytest.raises(UserError) as info:
        load_vgg19(cache=cache, url=bad.as_uri(), sha256=file_digest(bad, "sha256"))
    assert str(cache / WEIGHTS_FILE) in str(info.value) and "\n" not in str(info.value)
