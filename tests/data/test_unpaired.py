"""The unpaired data of CycleGAN's kind (issue 22): two piles of images that do not correspond."""

import numpy as np
import torch


def test_the_unpaired_shapes_share_no_scene():
    """Side B renders other scenes than side A draws: no B image is the rendering of any A label map."""
    from ganforge.data.shapes import input_to_labels, render_target, unpaired_sides

    a, b = unpaired_sides(64, 32, 0)
    assert a.shape == b.shape == (64, 3, 32, 32) and a.dtype == b.dtype == torch.uint8
    labels = input_to_labels(a.permute(0, 2, 3, 1).numpy())
    renderings = torch.from_numpy(render_target(labels)).permute(0, 3, 1, 2)
    distances = (renderings[:, None].float() - b[None].float()).abs().mean(dim=(2, 3, 4))
    assert distances.min() > 5  # mean absolute difference in 0..255 levels: different scenes
    assert len(np.unique(a.numpy().reshape(64, -1), axis=0)) == 64
