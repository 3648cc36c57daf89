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


def sides(n_a=10, n_b=7):
    from ganforge.data.builtin import TensorImages
    from ganforge.data.unpaired import UnpairedImages

    a = torch.arange(n_a, dtype=torch.float32).view(n_a, 1, 1, 1).expand(n_a, 1, 2, 2) / 100
    b = -torch.arange(n_b, dtype=torch.float32).view(n_b, 1, 1, 1).expand(n_b, 1, 2, 2) / 100
    return UnpairedImages(TensorImages(a), TensorImages(b))


def ids(batch):
    a, b = batch
    return (a[:, 0, 0, 0] * 100).round().long().tolist(), (-b[:, 0, 0, 0] * 100).round().long().tolist()


def test_the_stream_draws_the_two_sides_apart_and_resumes_the_same():
    from ganforge.train.data_stream import BatchStream
    from ganforge.train.runtime import Runtime

    cpu = Runtime(torch.device("cpu"))
    data = sides()
    stream = BatchStream(data, 4, seed=3, runtime=cpu)
    batches = [ids(next(stream)) for _ in range(12)]
    a_ids = [i for a, _ in batches[:2] for i in a]
    assert len(set(a_ids)) == 8 and stream.batches_per_epoch == 2  # an epoch is a pass over side A
    b_ids = [j for _, b in batches for j in b]
    assert all(sorted(b_ids[k : k + 7]) == list(range(7)) for k in (0, 7, 14, 21, 28))  # B's own epochs
    pairs = {(i, j) for a, b in batches for i, j in zip(a, b, strict=True)}
    assert len({j for i, j in pairs if i == a_ids[0]}) > 1 or len(pairs) > 30  # no fixed partner
    resumed = BatchStream(data, 4, seed=3, runtime=cpu, start_batch=5)
    assert [ids(next(resumed)) for _ in range(7)] == batches[5:]
    loaded = BatchStream(data, 4, seed=3, runtime=cpu, num_workers=0)
    loaded.resident = None  # the DataLoader's path gives the same batches
    loaded.loader = torch.utils.data.DataLoader(data, batch_sampler=loaded.sampler)
    loaded._it = iter(loaded.loader)
    assert [ids(next(loaded)) for _ in range(12)] == batches


def test_the_embedded_unpaired_shapes_are_a_data_set_of_two_sides():
    from ganforge.data.unpaired import unpaired_shapes

    data = unpaired_shapes(32, 16, 0)
    a, b = data[(3, 5)]
    assert a.shape == b.shape == (3, 16, 16) and a.min() >= -1 and b.max() <= 1
    assert len(data) == 32 and data.other_size == 32 and "unpaired" in data.describe()
