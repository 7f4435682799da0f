"""One place decides the released defaults: ``models.build`` and the factory agree.

``okddip_edu.models.released`` resolves dropout, the Linear and conv initialisation and
DenseNet's switches per architecture and layout. ``models.build`` with its defaults and
``factory.build`` of a Config with the same architecture, layout and seed must give the
same modules (names, types, dropout p) and the same initial weights: equal tensors, except
the N(0, 0.01) VGG Linear weights, which the factory draws after building the method (the
order every run has used) and which must then agree in mean and std.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from okddip_edu import factory, models
from okddip_edu.config import ARCHITECTURES, Config

C, N, WIDTH = 10, 3, 4
# (arch, method, layout): every architecture in the three layouts (OKDDip's branch layout
# has a leader), and VGG-16's branch layout without one (its MLP biases differ).
CASES = [(arch, method, layout) for arch in ARCHITECTURES for method, layout in
         (("baseline", "single"), ("okddip", "branch"), ("dml", "network"))]
CASES.append(("vgg16", "one", "branch"))


def _structure(net: nn.Module) -> list[tuple[str, str, float | None]]:
    return [(name, type(m).__name__, getattr(m, "p", None)) for name, m in net.named_modules()]


def _both(arch: str, method: str, layout: str, init: str = "released"):
    cfg = Config(arch=arch, method=method, layout=layout, branches=N, width=WIDTH, init=init)
    torch.manual_seed(0)
    via_factory, _ = factory.build(cfg, C)
    torch.manual_seed(0)
    direct = models.build(arch, C, cfg.num_branches, layout, width=WIDTH, init=init,
                          leader=method == "okddip" and layout == "branch")
    return direct, via_factory


def _assert_same_weights(direct: nn.Module, via_factory: nn.Module) -> None:
    linear_weights = {f"{n}.weight" for n, m in direct.named_modules() if isinstance(m, nn.Linear)}
    theirs = via_factory.state_dict()
    for key, mine in direct.state_dict().items():
        other = theirs[key]
        assert mine.shape == other.shape, key
        if torch.equal(mine, other):
            continue
        assert key in linear_weights, f"{key}: models.build and the factory start it differently"
        mine, other = mine.float(), other.float()
        se = other.std() / mine.numel() ** 0.5
        assert abs(mine.std() - other.std()) < 0.1 * other.std(), (key, mine.std(), other.std())
        assert abs(mine.mean() - other.mean()) < 6 * se, (key, mine.mean(), other.mean())


@pytest.mark.parametrize("arch,method,layout", CASES, ids=["-".join(c) for c in CASES])
def test_models_build_is_the_network_a_run_builds(arch, method, layout):
    direct, via_factory = _both(arch, method, layout)
    assert _structure(direct) == _structure(via_factory)
    _assert_same_weights(direct, via_factory)


@pytest.mark.parametrize("arch", ["vgg16", "densenet40-12"])
def test_kaiming_fan_out_agrees_too(arch):
    direct, via_factory = _both(arch, "okddip", "branch", init="kaiming-fan-out")
    assert _structure(direct) == _structure(via_factory)
    _assert_same_weights(direct, via_factory)


def _linears(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def _dropouts(net: nn.Module) -> set[float]:
    return {m.p for m in net.modules() if isinstance(m, nn.Dropout)}


@pytest.mark.parametrize("layout,p", [("single", 0.0), ("network", 0.0), ("branch", 0.5)])
def test_vgg_dropout_and_linear_init_follow_the_layout(layout, p):
    torch.manual_seed(0)
    net = models.build("vgg16", C, 2, layout)
    assert _dropouts(net) == {p}
    hidden = [m for m in _linears(net) if m.weight.shape == (512, 512)]
    assert hidden and all(abs(m.weight.std().item() - 0.01) < 0.001 for m in hidden)
    assert all(torch.all(m.bias == 0) for m in _linears(net))
    assert _dropouts(models.build("vgg16", C, 2, layout, dropout=0.3)) == {0.3}


def test_vgg_okddip_branch_model_keeps_default_biases():
    """vgg_GL.py (the branch model with a leader) leaves the MLP's biases at PyTorch's."""
    torch.manual_seed(0)
    net = models.build("vgg16", C, 3, "branch", leader=True)
    assert all(m.bias.abs().max() > 0 for m in _linears(net))


def test_densenet_and_resnet_linear_init():
    torch.manual_seed(0)
    dense = models.build("densenet40-12", C, 2, "branch")
    assert all(torch.all(m.bias == 0) for m in _linears(dense))
    res = models.build("resnet8", C, 2, "branch", width=WIDTH)
    assert all(m.bias.abs().max() > 0 for m in _linears(res))  # PyTorch's default
    fan_out = models.build("vgg16", C, 1, "single", init="kaiming-fan-out")
    assert all(m.bias.abs().max() > 0 for m in _linears(fan_out))


def test_conv_init_is_released_per_network():
    """DenseNet: Kaiming fan_in; the others fan_out (std sqrt(2 / fan))."""
    torch.manual_seed(0)
    conv = next(m for m in models.build("densenet40-12", C, 1, "single").modules()
                if isinstance(m, nn.Conv2d) and m.in_channels != m.out_channels
                and m.kernel_size == (1, 1))
    fan_in = conv.in_channels
    assert abs(conv.weight.std().item() - (2 / fan_in) ** 0.5) < 0.15 * (2 / fan_in) ** 0.5


def test_unknown_init_is_refused():
    with pytest.raises(ValueError, match="init='xavier' is not valid"):
        models.build("resnet8", C, 1, "single", width=WIDTH, init="xavier")
