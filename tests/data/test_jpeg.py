"""The device-side JPEG (data/jpeg.py) against Pillow's encode and decode (libjpeg), on a photograph."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data.jpeg import LUMA, jpeg, quantisation_table


def pillow_jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    out = []
    for image in images:
        array = ((image.permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(buffer, "JPEG", quality=quality)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.float32)
        decoded = decoded[..., None] if decoded.ndim == 2 else decoded
        out.append(torch.from_numpy(decoded).permute(2, 0, 1) / 127.5 - 1)
    return torch.stack(out)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return (10 * torch.log10(4 / ((a - b) ** 2).mean())).item()


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    rgb = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float()[None] / 127.5 - 1
    return rgb[:, :, :250, :243]  # not a multiple of 16: the edge blocks are padded as libjpeg pads them


@pytest.mark.parametrize("quality", [10, 50, 90])
def test_colour_jpeg_is_pillow_s_to_within_40_db(photo, quality):
    ours, pillows = jpeg(photo, quality), pillow_jpeg(photo, quality)
    assert psnr(ours, pillows) > 40
    assert abs(psnr(ours, photo) - psnr(pillows, photo)) < 0.3  # the same loss of quality
    assert torch.equal(ours, torch.round((ours + 1) * 127.5) / 127.5 - 1)  # on the 8-bit grid


@pytest.mark.parametrize("quality", [10, 75])
def test_grey_jpeg_is_pillow_s_to_within_48_db(photo, quality):
    grey = torch.round((photo.mean(1, keepdim=True) + 1) * 127.5) / 127.5 - 1
    assert psnr(jpeg(grey, quality), pillow_jpeg(grey, quality)) > 48


def test_quality_scales_the_tables_as_libjpeg_does():
    assert quantisation_table(LUMA, 50).flatten().tolist() == [float(q) for q in LUMA]
    assert quantisation_table(LUMA, 100).max().item() == 1  # every step 1
    assert quantisation_table(LUMA, 1).min().item() == 255  # 5000 x the table, capped
    assert quantisation_table(LUMA, 75)[0, 0].item() == 8  # (16 x 50 + 50) // 100
