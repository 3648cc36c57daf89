"""Families by name and their inference contracts."""

import pytest
import torch
from torch import nn

from ganforge.api import resolve_config
from ganforge.config import preset_names
from ganforge.models import FAMILIES, InferenceContract, build_models, family_of
from ganforge.report.summary import network_summary


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_builds_its_family_and_both_networks_take_their_example_inputs(preset):
    cfg = resolve_config(preset, data="digits" if preset.startswith("dcgan") else "shapes", image_size=None)
    family = family_of(cfg)
    assert family is FAMILIES.get(cfg.model.family) and cfg.task == family.task
    g, d = build_models(cfg)
    out = network_summary(g, cfg, "g")["layers"][-1]["output_shape"]
    assert out[1:] == [family.output_size(cfg)] * 2
    assert network_summary(d, cfg, "d")["parameters"] > 0


def net_with_norm_and_dropout():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Conv2d(4, 3, 1))


def test_running_statistics_contract_is_eval_mode_and_restores_every_mode():
    net = net_with_norm_and_dropout()
    net[3].eval()  # a module left in eval mode by its owner stays so
    x = torch.randn(5, 3, 8, 8)
    out = InferenceContract().run(net, x, batch_size=2)
    net.eval()
    assert torch.allclose(out, net(x).clamp(-1, 1))
    net.train()
    net[3].eval()
    with InferenceContract().modes(net):
        assert not any(m.training for m in net.modules())
    assert [m.training for m in net] == [True, True, True, False]


def test_batch_statistics_contract_runs_each_input_alone_without_touching_the_running_averages():
    net = net_with_norm_and_dropout()
    contract = InferenceContract(batch_statistics=True, dropout=True)
    x = torch.randn(6, 3, 8, 8)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    out = contract.run(net, x, seed=5)
    assert torch.equal(torch.rand(3), expected_next)  # the caller's random stream is untouched
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(m.track_running_stats for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    assert torch.equal(out[2:4], contract.run(net, x[2:4], seed=5))  # an output depends on its input only
    assert torch.equal(out, contract.run(net, x, seed=5)) and not torch.equal(out, contract.run(net, x, seed=6))
    # exactly one training-mode forward of the input alone, with the same dropout seed
    net.train()
    torch.manual_seed(5 * 1_000_003)
    alone = net(x[:1]).clamp(-1, 1)
    assert torch.allclose(out[:1], alone, atol=1e-6)


@pytest.mark.parametrize("batch_size, batch_statistics", [(1, True), (8, False)])
def test_pix2pix_normalises_at_inference_as_it_trained(batch_size, batch_statistics):
    cfg = resolve_config("pix2pix", data="shapes", image_size=32, batch_size=batch_size)
    contract = family_of(cfg).inference(cfg)
    assert (contract.batch_statistics, contract.dropout) == (batch_statistics, batch_statistics)


@pytest.mark.parametrize("preset", ["dcgan-mnist", "dcgan-128", "dcgan", "unet-restore"])
def test_other_families_run_in_eval_mode(preset):
    cfg = resolve_config(preset)
    assert family_of(cfg).inference(cfg) == InferenceContract()
