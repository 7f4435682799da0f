"""A group of peers built from any backbone: ``single``, ``branch`` or ``network`` layout.

Every backbone is split in two (the spec's table, section 2):

    trunk:  x (B, 3, H, W) -> low-level feature map (B, c0, h, w)      shared in "branch"
    branch: feature map    -> pooled high-level feature h (B, d)        one per peer

and every branch ends in its own classifier head ``z = head(h)`` (B, C): ``W h + b`` for
every backbone but VGG, whose head is its MLP 512-512-512-C. The three layouts:

- ``single``:  trunk -> 1 branch                       (a plain network)
- ``branch``:  trunk -> n branches (shared trunk)      (the paper's main setting)
- ``network``: n x (trunk -> branch)                   (n independent networks)

Whatever the layout, the forward pass returns one :class:`GroupOutput`, so every method and
metric works with every layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import nn


class GroupOutput(NamedTuple):
    """What a group of peers returns for a batch of B images."""

    features: torch.Tensor  # (B, n, d) pooled penultimate feature h of each branch
    logits: torch.Tensor  # (B, n, C) logits z of each branch
    trunk: torch.Tensor  # (B, d0) pooled trunk feature (ONE's gate reads it)


@dataclass
class Backbone:
    """A backbone cut into trunk and branch, as factories (each call builds fresh weights)."""

    make_trunk: Callable[[], nn.Module]  # () -> module: x -> (B, c0, h, w)
    make_branch: Callable[[], nn.Module]  # () -> module: (B, c0, h, w) -> (B, d)
    trunk_dim: int  # c0: channels of the trunk's feature map
    feature_dim: int  # d: size of a branch's pooled feature
    make_head: Callable[[int, int], nn.Module] = nn.Linear  # (d, C) -> module: h -> z
    make_leader_branch: Callable[[], nn.Module] | None = None  # the leader's, if it differs


class ScaleGradient(torch.autograd.Function):
    """Identity forward; multiplies the incoming gradient by ``scale`` on the way back.

    CL-ILR's "backward rescaling": with n branches on one trunk, the trunk receives the sum
    of n gradients; dividing by n keeps its step size comparable to a single network's.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale, None


class Peer(nn.Module):
    """One branch: its high-level layers and its classifier head."""

    def __init__(self, body: nn.Module, classifier: nn.Module):
        super().__init__()
        self.body = body
        self.classifier = classifier

    def forward(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(fmap)  # (B, d)
        return h, self.classifier(h)  # (B, d), (B, C)


def _pool(fmap: torch.Tensor) -> torch.Tensor:
    return fmap.float().mean(dim=(2, 3)) if fmap.dim() == 4 else fmap  # (B, c0)


class BranchGroup(nn.Module):
    """``single`` (n = 1) and ``branch`` layouts: one trunk, n peers on top of it.

    With ``leader=True`` the last branch is built by ``backbone.make_leader_branch`` when
    the backbone has one (the released DenseNet pools its leader without the final BN).
    """

    def __init__(self, backbone: Backbone, num_classes: int, branches: int,
                 trunk_grad_scale: float = 1.0, leader: bool = False):
        super().__init__()
        self.trunk = backbone.make_trunk()
        bodies = [backbone.make_branch() for _ in range(branches)]
        if leader and backbone.make_leader_branch is not None:
            bodies[-1] = backbone.make_leader_branch()
        self.peers = nn.ModuleList(
            Peer(body, backbone.make_head(backbone.feature_dim, num_classes)) for body in bodies
        )
        self.trunk_grad_scale = trunk_grad_scale  # CL-ILR: 1/n; every other method: 1

    def forward(self, x: torch.Tensor) -> GroupOutput:
        fmap = self.trunk(x)  # (B, c0, h, w)
        shared = fmap
        if self.trunk_grad_scale != 1.0 and torch.is_grad_enabled():
            shared = ScaleGradient.apply(fmap, self.trunk_grad_scale)
        outs = [peer(shared) for peer in self.peers]
        features = torch.stack([h for h, _ in outs], dim=1)  # (B, n, d)
        logits = torch.stack([z for _, z in outs], dim=1)  # (B, n, C)
        return GroupOutput(features, logits, _pool(fmap))


class NetworkGroup(nn.Module):
    """``network`` layout: n independent networks, nothing shared.

    ``trunk`` in the output is network 0's pooled low-level feature (used only by a gate).
    """

    def __init__(self, backbone: Backbone, num_classes: int, branches: int):
        super().__init__()
        self.nets = nn.ModuleList(
            BranchGroup(backbone, num_classes, branches=1) for _ in range(branches)
        )

    def forward(self, x: torch.Tensor) -> GroupOutput:
        outs = [net(x) for net in self.nets]
        features = torch.cat([o.features for o in outs], dim=1)  # (B, n, d)
        logits = torch.cat([o.logits for o in outs], dim=1)  # (B, n, C)
        return GroupOutput(features, logits, outs[0].trunk)


def init_weights(module: nn.Module, conv_mode: str = "fan_out") -> None:
    """Kaiming-normal convolutions (std = sqrt(2 / fan), ``conv_mode`` picks fan_out = k^2
    c_out or fan_in = k^2 c_in), conv biases 0, BatchNorm weight 1 and bias 0. Linear layers
    keep PyTorch's default here; :mod:`okddip_edu.models.released` decides them per network.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=conv_mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def make_group(backbone: Backbone, num_classes: int, branches: int, layout: str,
               trunk_grad_scale: float = 1.0, leader: bool = False,
               conv_init: str = "fan_out") -> nn.Module:
    """Assemble a backbone into the requested layout and initialise its convolutions.

    ``leader``: the branch layout's last branch is a group leader (OKDDip); ``conv_init``:
    the Kaiming mode of every convolution (the released one per network:
    :func:`okddip_edu.models.released.resolve`).
    """
    if layout == "single":
        net: nn.Module = BranchGroup(backbone, num_classes, branches=1)
    elif layout == "branch":
        net = BranchGroup(backbone, num_classes, branches, trunk_grad_scale, leader)
    elif layout == "network":
        net = NetworkGroup(backbone, num_classes, branches)
    else:
        raise ValueError(f"layout={layout!r} is not valid; choose one of: single, branch, network")
    init_weights(net, conv_init)
    return net
