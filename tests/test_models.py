"""Peer models: parameter counts against the spec, shapes, independence, CL-ILR scaling.

The parameter targets are the spec's table (section 2), counted the released code's way:
C = 100, 4 branches, plus OKDDip's query and key projections, 2 * d * (d // 8) weights.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from okddip_edu import models
from okddip_edu.config import ARCHITECTURES, LAYOUTS
from okddip_edu.models.densenet import densenet_bc
from okddip_edu.models.resnet import cifar_resnet

TOLERANCE = 0.005  # 0.5 %

# name -> (d, params of the 4-branch group + projections, params of one network or None)
SPEC = {
    "resnet32": (64, 1.554e6, 0.473e6),
    "resnet110": (256, 3.874e6, 1.171e6),
    "wrn20-8": (256, 22.612e6, 6.871e6),
    "vgg16": (512, 38.343e6, 15.300e6),
    "densenet40-12": (132, 0.409e6, None),
}

# Shape tests: small ResNets (width 4); name -> (d0 trunk channels, d feature size).
WIDTH = 4
DIMS = {
    "resnet8": (8, 16), "resnet14": (8, 16), "resnet20": (8, 16), "resnet32": (8, 16),
    "resnet110": (32, 64), "wrn20-8": (32, 64),
    "vgg16": (512, 512), "densenet40-12": (60, 132), "resnet34": (128, 512),
}
N = 3  # branches in the shape tests


def projections(d: int) -> int:
    return 2 * d * (d // 8)


def within(count: float, target: float) -> bool:
    return abs(count - target) <= TOLERANCE * target


@functools.lru_cache(maxsize=None)
def small(name: str, layout: str) -> nn.Module:
    """A shape-test model, built once per (name, layout) and shared by the tests below."""
    torch.manual_seed(0)
    return models.build(name, num_classes=100, branches=N, layout=layout, width=WIDTH).eval()


def image(name: str, batch: int = 2) -> torch.Tensor:
    side = 64 if name == "resnet34" else 32
    return torch.randn(batch, 3, side, side)


def shared_tensors(a: nn.Module, b: nn.Module) -> list[str]:
    """Names of ``a``'s parameters that are, or share storage with, one of ``b``'s."""
    b_ids = {id(p) for p in b.parameters()}
    b_ptrs = {p.data_ptr() for p in b.parameters()}
    return [n for n, p in a.named_parameters() if id(p) in b_ids or p.data_ptr() in b_ptrs]


# --- parameter counts -------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SPEC))
def test_group_parameter_count_matches_spec(name):
    d_spec, target, _ = SPEC[name]
    net = models.build(name, num_classes=100, branches=4, layout="branch")
    d = net(torch.randn(2, 3, 32, 32)).features.shape[-1]
    assert d == d_spec
    count = models.count_parameters(net) + projections(d)
    assert within(count, target), f"{name}: {count:,} parameters, spec {target:,.0f}"


@pytest.mark.parametrize("name", [n for n, (_, _, single) in SPEC.items() if single])
def test_single_network_parameter_count_matches_spec(name):
    target = SPEC[name][2]
    count = models.count_parameters(models.build(name, num_classes=100, layout="single"))
    assert within(count, target), f"{name}: {count:,} parameters, spec {target:,.0f}"


# --- shapes -----------------------------------------------------------------------------

def test_every_architecture_has_expected_dims():
    assert set(DIMS) == set(ARCHITECTURES)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_output_shapes(name, layout):
    d0, d = DIMS[name]
    n = 1 if layout == "single" else N
    with torch.no_grad():
        out = small(name, layout)(image(name))
    assert isinstance(out, models.GroupOutput)
    assert tuple(out.features.shape) == (2, n, d)
    assert tuple(out.logits.shape) == (2, n, 100)
    assert tuple(out.trunk.shape) == (2, d0)
    assert torch.isfinite(out.logits).all()


# --- independence and sharing -----------------------------------------------------------

def test_shared_tensors_detects_a_shared_module():
    # The check below must be able to see the released DenseNet's defect: one module object
    # registered under two names.
    block = nn.Linear(4, 4)
    assert shared_tensors(nn.Sequential(block), nn.Sequential(block)) == ["0.weight", "0.bias"]
    assert shared_tensors(nn.Linear(4, 4), nn.Linear(4, 4)) == []


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_branches_are_independent(name):
    net = small(name, "branch")
    assert shared_tensors(net.peers[0], net.peers[1]) == []
    assert shared_tensors(net.peers[1], net.peers[2]) == []


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_networks_share_nothing(name):
    net = small(name, "network")
    a, b = net.nets[0], net.nets[1]
    assert shared_tensors(a.trunk, b.trunk) == []
    assert shared_tensors(a.peers[0], b.peers[0]) == []
    assert models.count_parameters(net) == N * models.count_parameters(a)


@pytest.mark.parametrize("name", ["resnet8", "densenet40-12"])
def test_branch_layout_shares_one_trunk(name):
    net = small(name, "branch")
    # Counted once: the whole group is one trunk plus n peers, nothing else.
    peers = sum(models.count_parameters(p) for p in net.peers)
    assert models.count_parameters(net) == models.count_parameters(net.trunk) + peers
    # Run once per forward, and every peer reads that same feature map.
    calls, inputs = [], []
    h1 = net.trunk.register_forward_hook(lambda m, i, o: calls.append(o))
    hooks = [p.register_forward_pre_hook(lambda m, i: inputs.append(i[0])) for p in net.peers]
    try:
        with torch.no_grad():
            net(image(name))
    finally:
        h1.remove()
        for h in hooks:
            h.remove()
    assert len(calls) == 1
    assert len(inputs) == N
    assert all(x is calls[0] for x in inputs)


# --- CL-ILR backward rescaling ----------------------------------------------------------

def _first_conv(module: nn.Module) -> nn.Conv2d:
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d))


def test_trunk_grad_scale_divides_trunk_gradient():
    torch.manual_seed(0)
    full = models.build("resnet8", num_classes=10, branches=4, layout="branch", width=4)
    scaled = models.build("resnet8", num_classes=10, branches=4, layout="branch", width=4,
                          trunk_grad_scale=0.25)
    scaled.load_state_dict(full.state_dict())
    x = image("resnet8")
    for net in (full, scaled):
        net(x).logits.sum().backward()
    g_full = _first_conv(full.trunk).weight.grad
    g_scaled = _first_conv(scaled.trunk).weight.grad
    assert g_full.abs().sum() > 0
    torch.testing.assert_close(g_scaled * 4, g_full)
    # The branches themselves get their full gradient.
    torch.testing.assert_close(_first_conv(scaled.peers[0]).weight.grad,
                               _first_conv(full.peers[0]).weight.grad)


# --- validation messages ----------------------------------------------------------------

def test_cifar_resnet_depth_error_names_allowed_depths():
    with pytest.raises(ValueError, match=r"depth=9") as err:
        cifar_resnet(9)
    assert "6n+2" in str(err.value) and "8, 14, 20" in str(err.value)


def test_densenet_depth_error_names_allowed_depths():
    with pytest.raises(ValueError, match=r"depth=41") as err:
        densenet_bc(depth=41)
    assert "6L+4" in str(err.value) and "40" in str(err.value)


def test_unknown_architecture_lists_valid_names():
    with pytest.raises(ValueError, match="nope") as err:
        models.build("nope")
    assert all(name in str(err.value) for name in ARCHITECTURES)
