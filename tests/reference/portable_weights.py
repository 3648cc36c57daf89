"""Deterministic stand-in weights for an Inception state dict, with no random number generator.

Pure torch, imported both by ``make_inception_reference.py`` (run in the reference venv with pytorch-fid)
and by ``tests/metrics/test_inception.py`` (run in the project's venv), so both sides build exactly the
same weights from nothing but the key names and shapes.

Recipe ``sin-quadratic-v1``: element ``i`` of the tensor named ``name`` is ``sin(2 pi k / M)`` with
``k = (A i^2 + B i + crc32(name)) mod M`` computed exactly in int64 (``M`` = 2^31 - 1, a prime). The
quadratic phase keeps the values free of the low-rank structure that ``sin(a i + b)`` would give
(every row of such a matrix is a mix of the same two sequences), and the exact integer phase keeps the
values identical across platforms up to the last bit of ``sin``. They have mean about 0 and root mean
square about 1/sqrt(2), and are then scaled:

- conv / linear weights: He scale, standard deviation sqrt(2 / fan_in);
- linear bias: 0.01 times the values;
- BatchNorm weight 1 + 0.1 v, bias 0.05 v, running_mean 0.05 v, running_var 1 + 0.2 v (positive);
- num_batches_tracked: 0.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence

import torch

RECIPE = "sin-quadratic-v1"
_M = 2_147_483_647  # 2^31 - 1
_A = 1_103_515_245 % _M
_B = 12_345_679


# (shift, scale) of the unit values for the entries that are not conv / linear weights
_SHIFT_SCALE = {
    "bn.weight": (1.0, 0.1),
    "bn.bias": (0.0, 0.05),
    "bn.running_mean": (0.0, 0.05),
    "bn.running_var": (1.0, 0.2),
    "bias": (0.0, 0.01),  # linear bias
}


def unit_values(name: str, numel: int) -> torch.Tensor:
    """``numel`` float64 values in [-1, 1] for the tensor called ``name``."""
    i = torch.arange(numel, dtype=torch.int64)
    square = (i * i) % _M  # < 2^31, so the products below stay below 2^62
    k = (square * _A + (i * _B) % _M + zlib.crc32(name.encode()) % _M) % _M
    return torch.sin(k.to(torch.float64) * (2 * math.pi / _M))


def portable_tensor(name: str, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The recipe's value for one state-dict entry (see the module docstring)."""
    shape = tuple(int(s) for s in shape)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return torch.zeros(shape, dtype=torch.int64)
    v = unit_values(name, math.prod(shape)).reshape(shape)
    if leaf == "weight" and len(shape) >= 2:  # convolution or linear
        fan_in = math.prod(shape[1:])
        return (v * (2.0 / math.sqrt(fan_in))).to(dtype)  # values have RMS 1/sqrt(2): std sqrt(2 / fan_in)
    kind = ("bn." if name.split(".")[-2:-1] == ["bn"] else "") + leaf
    if kind not in _SHIFT_SCALE:
        raise ValueError(f"portable_tensor: no rule for {name!r} with shape {shape}")
    shift, scale = _SHIFT_SCALE[kind]
    return (shift + scale * v).to(dtype)


def portable_weights(
    shapes: Mapping[str, Sequence[int]], dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """A full state dict for the given ``{key: shape}``."""
    return {name: portable_tensor(name, shape, dtype) for name, shape in shapes.items()}
