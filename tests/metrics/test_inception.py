"""Tests for ganforge.metrics.inception: the FID InceptionV3 against pytorch-fid, and its download.

The reference features in tests/reference/inception_reference.pt come from pytorch-fid 0.3.0's
InceptionV3 (float64) with the deterministic weights of tests/reference/portable_weights.py; the
script tests/reference/make_inception_reference.py says how to make them again. The real weights are
never downloaded here.
"""

from __future__ import annotations

import socket
from pathlib import Path, PurePosixPath

import pytest
import torch

from ganforge.data.download import file_digest
from ganforge.errors import UserError
from ganforge.metrics.inception import WEIGHTS_FILE, WEIGHTS_SHA256_PREFIX, FIDInception, load_inception, weights_path
from tests.reference.portable_weights import RECIPE, portable_weights

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "inception_reference.pt"
NUM_PARAMETERS = 23_850_960  # conv + BatchNorm affine + the 2048 -> 1008 classifier; as pytorch-fid's network
TOLERANCE = 1e-4  # max |ours - pytorch-fid| relative to the largest reference feature


@pytest.fixture(scope="module")
def reference() -> dict:
    ref = torch.load(REFERENCE, map_location="cpu", weights_only=True)
    assert ref["recipe"] == RECIPE, "portable_weights.py changed: run make_inception_reference.py again"
    return ref


@pytest.fixture(scope="module")
def weights(reference) -> dict[str, torch.Tensor]:
    return portable_weights(reference["shapes"])


@pytest.fixture(scope="module")
def net(weights) -> FIDInception:
    model = FIDInception()
    model.load_state_dict(weights, strict=True)
    return model.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def features(net, reference) -> torch.Tensor:
    """Our features of the reference images, fed as 2x - 1 of pytorch-fid's [0, 1] input."""
    with torch.no_grad():
        return net(reference["images"].double() / 255 * 2 - 1)


def _relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours.double() - ref).abs().max() / ref.abs().max()).item()


# ------------------------------------------------------------------------------------ equivalence


def test_keys_shapes_and_parameter_count(net, reference):
    state = net.state_dict()
    assert list(state) == reference["keys"]  # the same names, in the same order, as pytorch-fid's
    assert {k: list(v.shape) for k, v in state.items()} == reference["shapes"]
    assert sum(p.numel() for p in net.parameters()) == NUM_PARAMETERS == reference["num_parameters"]


def test_portable_weights_are_reproduced(weights, reference):
    """The weights built here are the ones the reference was made with (else the recipe drifted)."""
    sums = torch.tensor([weights[k].double().abs().sum().item() for k in reference["keys"]])
    torch.testing.assert_close(sums, reference["weight_abs_sums"], rtol=1e-6, atol=0)


def test_features_match_pytorch_fid(features, reference):
    ref = reference["features"]
    assert features.shape == ref.shape == (6, 2048)
    assert features.dtype == torch.float32
    error = _relative_error(features, ref)
    print(f"max |ours - pytorch-fid| / max |pytorch-fid| = {error:.2e}")
    assert error < TOLERANCE


def test_reference_features_are_informative(reference):
    """Features that are all about 0, or alike for every image, would let a wrong network pass."""
    ref = reference["features"]
    assert ref.abs().max() > 1 and ref.mean() > 0.1
    assert (ref > 0).double().mean() > 0.5
    distances = torch.cdist(ref, ref)
    off_diagonal = distances[~torch.eye(len(ref), dtype=torch.bool)]
    assert off_diagonal.min() > 1000 * TOLERANCE * ref.abs().max()  # every image apart from every other
    assert torch.linalg.matrix_rank(ref - ref.mean(0)).item() == len(ref) - 1


def test_a_wrong_pool_is_caught(net, reference, features):
    """Mixed_7c's max pool is the FID network's quirk; the average pool of torchvision is far off."""
    images = reference["images"][:2].double() / 255 * 2 - 1
    net.Mixed_7c.max_pool = False
    try:
        with torch.no_grad():
            wrong = net(images)
    finally:
        net.Mixed_7c.max_pool = True
    assert _relative_error(wrong, reference["features"][:2]) > 100 * TOLERANCE


def test_one_channel_input_is_repeated(net, reference, features):
    grey = reference["images"][5:6]  # the grey image: its three channels are equal
    assert (grey == grey[:, :1]).all()
    with torch.no_grad():
        single = net(grey[:, :1].double() / 255 * 2 - 1)
    torch.testing.assert_close(single, features[5:6], rtol=0, atol=1e-6)


# --------------------------------------------------------------------------------------- download


@pytest.fixture(scope="module")
def served(tmp_path_factory, weights) -> Path:
    """A weight file in pytorch-fid's format (a plain state dict), to be 'downloaded' by file URL."""
    path = tmp_path_factory.mktemp("server") / "weights.pth"
    torch.save(weights, path)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_load_inception_downloads_checks_and_caches(served, weights, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    digest = file_digest(served, "sha256")

    model = load_inception(url=served.as_uri(), sha256=digest[:8])
    cached = cache / WEIGHTS_FILE
    assert weights_path() == cached and cached.is_file()
    assert file_digest(cached, "sha256") == digest
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    for key in ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.bn.running_var", "fc.bias"):
        assert torch.equal(model.state_dict()[key], weights[key])

    # The second call reads the cache: the URL is not needed any more.
    again = load_inception(url=(tmp_path / "gone.pth").as_uri(), sha256=digest)
    assert torch.equal(again.state_dict()["fc.weight"], weights["fc.weight"])


def test_load_inception_wrong_checksum(served, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(UserError) as info:
        load_inception(cache=cache, url=served.as_uri(), sha256="00000000")
    message = str(info.value)
    assert WEIGHTS_FILE in message and served.as_uri() in message and "checksum" in message
    assert "\n" not in message
    assert not (cache / WEIGHTS_FILE).exists()


def test_load_inception_default_checksum_is_the_published_one(served, tmp_path):
    """Without a sha256 the published prefix is checked, which our stand-in file does not have."""
    assert WEIGHTS_SHA256_PREFIX in WEIGHTS_FILE
    with pytest.raises(UserError, match=WEIGHTS_SHA256_PREFIX):
        load_inception(cache=tmp_path / "cache", url=served.as_uri())


def test_load_inception_unreachable(tmp_path):
    cache = tmp_path / "cache"
    url = f"http://127.0.0.1:{_free_port()}/{WEIGHTS_FILE}"  # nothing listens there
    with pytest.raises(UserError) as info:
        load_inception(cache=cache, url=url)
    message = str(info.value)
    assert url in message and str(cache / WEIGHTS_FILE) in message and "by hand" in message
    assert "\n" not in message


@pytest.mark.parametrize("kind", ["junk", "pickle"])
def test_load_inception_unreadable_file(kind, tmp_path):
    """A file with the right checksum that torch cannot read (a saved HTML page; a pickle that
    weights_only refuses, whose torch message runs over several lines) gives one line naming it."""
    bad = tmp_path / "bad.pth"
    if kind == "junk":
        bad.write_bytes(b"<html>not a checkpoint</html>")
    else:
        torch.save({"path": PurePosixPath("not/a/tensor")}, bad)
    cache = tmp_path / "cache"
    with pytest.raises(UserError) as info:
        load_inception(cache=cache, url=bad.as_uri(), sha256=file_digest(bad, "sha256"))
    message = str(info.value)
    assert str(cache / WEIGHTS_FILE) in message and "download it anew" in message
    assert "\n" not in message and "\x1b" not in message
