"""Tests for ganforge.inference.tiles: tiled upscaling equals the untiled net (seams included) once the
overlap covers the receptive radius, memory is bounded by the tile, and the radius is measured, not assumed."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.inference.tiles import receptive_radius, tile_spans, upscale_tiled


class TinySRResNet(nn.Module):
    """The SRResNet layout that receptive_radius describes (models/srgan.py's, small): a 3x3 head conv;
    `blocks` residual blocks of two 3x3 convs with a ReLU between; for each factor 2 (or once for 3) a 3x3
    conv then PixelShuffle; a 3x3 conv and a final 3x3 conv at full scale; plus the input's bilinear
    enlargement when the channels agree. No normalisation layers; eval mode."""

    def __init__(self, scale: int = 2, cin: int = 3, cout: int = 3, width: int = 8, blocks: int = 2):
        super().__init__()
        self.scale, self.base = scale, cin == cout
        self.head = nn.Conv2d(cin, width, 3, padding=1)
        self.body = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1))
            for _ in range(blocks)
        )
        factors = [3] if scale == 3 else [2] * (scale // 2)
        self.up = nn.Sequential(
            *(m for f in factors for m in (nn.Conv2d(width, width * f * f, 3, padding=1), nn.PixelShuffle(f)))
        )
        self.conv_hr = nn.Conv2d(width, width, 3, padding=1)
        self.tail = nn.Conv2d(width, cout, 3, padding=1)
        for m in self.modules():  # activations of order 1 at any depth, so seam errors are plainly visible
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=(1 / (9 * m.in_channels)) ** 0.5)
                nn.init.normal_(m.bias, std=0.1)
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        h = F.leaky_relu(self.head(x), 0.1)
        for block in self.body:
            h = h + block(h)
        h = F.leaky_relu(self.up(h), 0.1)
        out = self.tail(F.leaky_relu(self.conv_hr(h), 0.1))
        if self.base:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out


class Recorder:
    """Wraps a net and keeps the shape of every input it is given."""

    def __init__(self, net: nn.Module):
        self.net, self.shapes = net, []

    def __call__(self, x: Tensor) -> Tensor:
        self.shapes.append(tuple(x.shape))
        return self.net(x)


def _image(*shape: int, seed: int = 0) -> Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _net(seed: int = 0, **kwargs) -> TinySRResNet:
    torch.manual_seed(seed)
    return TinySRResNet(**kwargs)


def _near_seams(size: int, tile: int, band: int, scale: int) -> Tensor:
    """Output pixels along one axis of `size` input pixels within `band` input pixels of a seam."""
    mask = torch.zeros(size * scale, dtype=torch.bool)
    for start, _ in tile_spans(size, tile)[1:]:
        mask[max(start - band, 0) * scale : (start + band) * scale] = True
    return mask


# ------------------------------------------------------------------------------------- equality


@pytest.mark.parametrize("extra", [0, 3])
def test_overlap_of_the_radius_equals_the_whole_image_everywhere(extra):
    net, image = _net(blocks=2), _image(1, 3, 75, 101)
    overlap = receptive_radius(2) + extra
    with torch.no_grad():
        whole = net(image)
    tiled = upscale_tiled(net, image, scale=2, tile=32, overlap=overlap)
    assert tiled.shape == whole.shape == (1, 3, 150, 202)
    assert (tiled - whole).abs().max().item() < 1e-5


def test_small_overlap_differs_only_near_the_seams():
    net, image, tile, overlap, scale = _net(blocks=2), _image(1, 3, 75, 101), 32, 2, 2
    band = receptive_radius(2) - overlap  # input pixels on each side of a seam whose outputs lack context
    with torch.no_grad():
        whole = net(image)
    error = (upscale_tiled(net, image, scale, tile=tile, overlap=overlap) - whole).abs()[0].amax(dim=0)
    near = _near_seams(75, tile, band, scale)[:, None] | _near_seams(101, tile, band, scale)[None, :]
    assert 0 < near.float().mean() < 0.7  # the band is (radius - overlap) * scale output pixels each side
    assert error[~near].max().item() < 1e-5
    assert error[near].max().item() > 1e-3  # the test can fail: without enough context the seams show
    wider = _near_seams(75, tile, band - 1, scale)[:, None] | _near_seams(101, tile, band - 1, scale)[None, :]
    assert error[~wider].max().item() > 1e-3  # and the band is no wider than it has to be


@pytest.mark.parametrize("scale", [3, 4])
def test_x3_and_x4(scale):
    net, image = _net(scale=scale, blocks=1), _image(2, 3, 41, 23)
    with torch.no_grad():
        whole = net(image)
    tiled = upscale_tiled(net, image, scale, tile=16, overlap=receptive_radius(1))
    assert tiled.shape == (2, 3, 41 * scale, 23 * scale)
    # x3: about 4e-6, the float32 rounding of bilinear's source coordinates (x / 3) far from the origin
    assert (tiled - whole).abs().max().item() < 1e-5


@pytest.mark.parametrize("cout", [1, 3])
def test_one_channel_input(cout):
    net, image = _net(cin=1, cout=cout, blocks=1), _image(1, 1, 37, 50)
    with torch.no_grad():
        whole = net(image)
    tiled = upscale_tiled(net, image, 2, tile=20, overlap=receptive_radius(1))
    assert tiled.shape == (1, cout, 74, 100)
    assert (tiled - whole).abs().max().item() < 1e-5


@pytest.mark.parametrize("shape", [(1, 3, 20, 31), (2, 3, 32, 32)])
def test_an_image_that_fits_one_tile_is_run_whole(shape):
    net, image = Recorder(_net(blocks=1)), _image(*shape)
    tiled = upscale_tiled(net, image, 2, tile=32, overlap=4)
    assert net.shapes == [shape]
    with torch.no_grad():
        assert torch.equal(tiled, net.net(image))


def test_no_gradient_is_kept_and_the_output_is_on_the_inputs_device():
    net, image = _net(blocks=1), _image(1, 3, 30, 30).requires_grad_()
    tiled = upscale_tiled(net, image, 2, tile=16, overlap=5)
    assert not tiled.requires_grad and tiled.device == image.device and tiled.dtype == image.dtype


def test_tiles_are_even_and_cover_the_side():
    assert tile_spans(75, 32) == [(0, 25), (25, 50), (50, 75)]
    assert tile_spans(32, 32) == [(0, 32)]
    assert tile_spans(5, 1) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    for size in range(1, 70):
        for tile in (1, 7, 16, 64):
            spans = tile_spans(size, tile)
            assert spans[0][0] == 0 and spans[-1][1] == size and len(spans) == -(-size // tile)
            assert all(a < b <= a + tile for a, b in spans)
            assert all(b == c for (_, b), (c, _) in zip(spans[:-1], spans[1:], strict=True))


# ---------------------------------------------------------------------------------------- memory


def test_the_net_never_sees_more_than_a_tile_with_its_context():
    tile, overlap = 32, 7
    net = Recorder(_net(blocks=2))
    upscale_tiled(net, _image(1, 3, 75, 101), 2, tile=tile, overlap=overlap)
    assert len(net.shapes) == 3 * 4
    assert all(h <= tile + 2 * overlap and w <= tile + 2 * overlap for _, _, h, w in net.shapes)
    assert max(h * w for _, _, h, w in net.shapes) <= (tile + 2 * overlap) ** 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="peak memory is measured on a CUDA device")
def test_peak_memory_is_bounded_by_the_tile_not_the_image():
    net, image = _net(blocks=2, width=16).cuda(), _image(1, 3, 512, 512).cuda()
    torch.cuda.synchronize()
    start = torch.cuda.memory_allocated()

    def peak(run) -> int:
        torch.cuda.reset_peak_memory_stats()
        out = run()
        torch.cuda.synchronize()
        del out
        return torch.cuda.max_memory_allocated() - start

    with torch.no_grad():
        whole = peak(lambda: net(image))
    tiled = peak(lambda: upscale_tiled(net, image, 2, tile=64, overlap=receptive_radius(2)))
    assert tiled < whole / 3


# ---------------------------------------------------------------------------------------- checks


@pytest.mark.parametrize("tile, overlap, match", [(0, 4, "tile"), (-3, 4, "tile"), (16, -1, "overlap")])
def test_bad_tile_or_overlap_is_refused(tile, overlap, match):
    with pytest.raises(ValueError, match=match):
        upscale_tiled(_net(blocks=0), _image(1, 3, 8, 8), 2, tile=tile, overlap=overlap)


def test_a_net_of_another_scale_is_refused():
    with pytest.raises(ValueError, match="scale 3"):
        upscale_tiled(_net(scale=2, blocks=0), _image(1, 3, 40, 40), 3, tile=16, overlap=3)


# ------------------------------------------------------------------------------ receptive radius


def _reach(net: nn.Module, scale: int, blocks: int) -> int:
    """How many output pixels beyond the scaled footprint of one input pixel change when it changes."""
    torch.manual_seed(blocks)
    size, q = 4 * receptive_radius(blocks) + 8, 2 * receptive_radius(blocks) + 4
    x = torch.randn(1, 3, size, size, dtype=torch.float64)
    bumped = x.clone()
    bumped[0, :, q, q] += 5.0
    with torch.no_grad():
        changed = (net(bumped) - net(x)).abs()[0].amax(dim=0) > 1e-9
    rows, cols = changed.any(dim=1).nonzero().flatten(), changed.any(dim=0).nonzero().flatten()
    return max(q * scale - rows.min(), rows.max() - (q * scale + scale - 1), q * scale - cols.min(),
               cols.max() - (q * scale + scale - 1)).item()  # fmt: skip


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("blocks", [0, 1, 3])
def test_receptive_radius_is_measured(scale, blocks):
    radius = receptive_radius(blocks)
    reach = _reach(_net(seed=blocks, scale=scale, blocks=blocks).double(), scale, blocks)
    assert reach <= radius * scale  # enough
    assert reach > (radius - 1) * scale  # and tight: one pixel less would not do


def test_receptive_radius_formula():
    assert [receptive_radius(b) for b in (0, 1, 16, 23)] == [3, 5, 35, 49]
    with pytest.raises(ValueError):
        receptive_radius(-1)
