"""The unpaired data of CycleGAN's kind (issue 22): two piles of images that do not correspond."""

import numpy as np
import pytest
import torch

from ganforge.data.paired import MissingSplit
from ganforge.errors import UserError


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


def _save(path, level, size=(12, 10)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (level, 255 - level, 40)).save(path)
    return path


def _folder(root, a=("x", "y", "z"), b=("p", "q"), prefix="train"):
    """Side A and side B of CycleGAN's layout; side B images are brighter in red than any of side A's."""
    for i, name in enumerate(a):
        _save(root / f"{prefix}A" / f"{name}.png", 10 + 20 * i)
    for i, name in enumerate(b):
        _save(root / f"{prefix}B" / f"{name}.jpg", 200 + 20 * i)
    return root


def _one_line(error):
    text = str(error.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("layout", ["cyclegan", "split-folders", "unsplit"])
def test_an_unpaired_folder_has_two_sides_of_any_sizes_and_names(tmp_path, layout):
    from ganforge.data.unpaired import unpaired_folder

    prefix = {"cyclegan": "train", "split-folders": "train/", "unsplit": ""}[layout]
    root = _folder(tmp_path, prefix=prefix)
    data = unpaired_folder(root, "train", image_size=8, channels=3)
    assert (len(data), data.other_size) == (3, 2) and data.unsplit == (layout == "unsplit")
    a, b = data[(2, 1)]
    assert a.shape == b.shape == (3, 8, 8)
    assert a[0].mean() < -0.5 and b[0].mean() > 0.5  # A's from side A, B's from side B
    assert data.pairs() is None  # names that do not match are not pairs
    if layout == "unsplit":  # nothing held out: every split reads the same sides
        assert len(unpaired_folder(root, "test", 8, 3)) == 3
    else:
        with pytest.raises(MissingSplit, match="test"):
            unpaired_folder(root, "test", 8, 3)


def test_held_out_images_whose_names_match_are_pairs(tmp_path):
    from ganforge.data.unpaired import unpaired_folder

    root = _folder(tmp_path, a=("1", "2", "sub/3"), b=("sub/3", "1", "2"), prefix="test")
    pairs = unpaired_folder(root, "test", 8, 3).pairs()
    assert len(pairs) == 3
    for i in range(3):  # each A image with the B image of its name (B's order differs)
        a, b = pairs[i]
        level_a = round(((a[0, 0, 0].item() + 1) * 127.5 - 10) / 20)  # the image's place in _folder
        level_b = round(((b[0, 0, 0].item() + 1) * 127.5 - 200) / 20)  # (B's are JPEG: near their level)
        assert (level_a, level_b) in {(0, 1), (1, 2), (2, 0)}


@pytest.mark.parametrize(
    "make, needles",
    [
        (lambda r: _save(r / "trainA" / "x.png", 1), ["trainA", "no partner folder", "trainB"]),
        (lambda r: _save(r / "B" / "x.png", 1), ["has B/ but no A/"]),
        (lambda r: _save(r / "x.png", 1), ["trainA/ and trainB/", "A/ and B/"]),
        (lambda r: (_folder(r), (r / "trainB" / "p.jpg").unlink(), (r / "trainB" / "q.jpg").unlink()), ["trainB"]),
    ],
)
def test_a_malformed_unpaired_folder_is_one_line_naming_it(tmp_path, make, needles):
    from ganforge.data.unpaired import unpaired_folder

    make(tmp_path)
    with pytest.raises(UserError) as error:
        unpaired_folder(tmp_path, "train", 8, 3)
    assert all(n in _one_line(error) for n in needles), _one_line(error)


def test_a_bad_image_is_skipped_and_noted_or_stops_a_strict_run(tmp_path):
    from ganforge.data.unpaired import unpaired_folder

    root = _folder(tmp_path)
    (root / "trainB" / "broken.png").write_bytes(b"not a png")
    data = unpaired_folder(root, "train", 8, 3, bad_images="skip")
    assert data.other_size == 2 and any("side B" in n and "broken.png" in n for n in data.notes())
    with pytest.raises(UserError) as error:
        unpaired_folder(root, "train", 8, 3, bad_images="strict")
    assert "broken.png" in _one_line(error)
