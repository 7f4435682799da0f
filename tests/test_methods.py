"""Every method's loss against the spec (sections 4 and 7), recomputed by hand.

OKDDip with n = m + 1 branches (peers 0..m-1, leader m):

    L_gt   = sum_a CE(z_a, y) + CE(z_leader, y)
    L_dis1 = sum_a KL_T(t_a -> z_a),   t_a = sum_b softmax_b(q_a . k_b) z_b over the m peers
    L_dis2 = KL_T(mean_a z_a -> z_leader)
    L      = L_gt + alpha w(e) (L_dis1 + L_dis2)

KL_T is T^2 * KL(p_t || p_s) with batchmean; w(e) = exp(-5 (1 - min(e, L)/L)^2).
The reference formulas use plain tensor operations only.
"""

from __future__ import annotations

import math

import pytest
import torch

from okddip_edu import methods, models
from okddip_edu.data import normalize, synthetic
from okddip_edu.models import GroupOutput

B, C, N = 8, 10, 4  # batch, classes, branches (m = 3 peers + 1 leader)
D0, D = 8, 16  # trunk channels and pooled feature size of resnet8 at width 4
T = 3.0


# Hand formulas ---------------------------------------------------------------------------
def log_softmax_by_hand(z: torch.Tensor) -> torch.Tensor:
    zmax = z.max(dim=-1, keepdim=True).values.detach()
    return z - zmax - (z - zmax).exp().sum(dim=-1, keepdim=True).log()


def softmax_by_hand(z: torch.Tensor) -> torch.Tensor:
    return log_softmax_by_hand(z).exp()


def kd_by_hand(student: torch.Tensor, teacher: torch.Tensor, T: float = T) -> torch.Tensor:
    """T^2 (1/B) sum_i sum_c p_t (log p_t - log p_s)."""
    log_ps = log_softmax_by_hand(student.double() / T)
    log_pt = log_softmax_by_hand(teacher.double() / T)
    return T * T * (log_pt.exp() * (log_pt - log_ps)).sum(dim=-1).sum() / student.shape[0]


def ce_by_hand(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mean over the batch of -log p_y."""
    log_p = log_softmax_by_hand(z.double())
    return -log_p[torch.arange(len(y)), y].sum() / len(y)


def w_by_hand(epoch: float, length: int = 80) -> float:
    if length == 0:
        return 1.0
    return math.exp(-5.0 * (1.0 - min(epoch, length) / length) ** 2)


def attention_by_hand(Wq: torch.Tensor, Wk: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """alpha (B, m, m): softmax_b(q_a . k_b), no scaling."""
    q = torch.einsum("kd,bmd->bmk", Wq.double(), h.double())
    k = torch.einsum("kd,bmd->bmk", Wk.double(), h.double())
    e = torch.einsum("bak,bck->bac", q, k)
    return softmax_by_hand(e)


def okddip_by_hand(method, out: GroupOutput, y: torch.Tensor, epoch: float, m: int = N - 1
                   ) -> dict[str, torch.Tensor]:
    z, h = out.logits, out.features
    ce = sum(ce_by_hand(z[:, i], y) for i in range(m + 1))  # m peers + the leader
    alpha = attention_by_hand(method.aggregator.query.weight, method.aggregator.key.weight,
                              h[:, :m])
    targets = torch.einsum("bac,bcj->baj", alpha, z[:, :m].double())  # (B, m, C)
    dis1 = sum(kd_by_hand(z[:, a], targets[:, a]) for a in range(m))
    dis2 = kd_by_hand(z[:, m], z[:, :m].double().mean(dim=1))
    total = ce + w_by_hand(epoch) * (dis1 + dis2)
    return {"ce": ce, "dis1": dis1, "dis2": dis2, "total": total, "alpha": alpha}


def close(a, b, rel: float = 1e-5) -> bool:
    a, b = float(torch.as_tensor(a).detach()), float(torch.as_tensor(b).detach())
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-6)


# Inputs ----------------------------------------------------------------------------------
def group_output(seed: int = 0, n: int = N, requires_grad: bool = False) -> GroupOutput:
    """A hand-made model output: features (B, n, D), logits (B, n, C), trunk (B, D0)."""
    g = torch.Generator().manual_seed(seed)
    features = 3.0 * torch.randn(B, n, D, generator=g)
    logits = 2.0 * torch.randn(B, n, C, generator=g)
    trunk = torch.randn(B, D0, generator=g)
    if requires_grad:
        features.requires_grad_(True)
        logits.requires_grad_(True)
        trunk.requires_grad_(True)
    return GroupOutput(features, logits, trunk)


def labels(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, C, (B,), generator=torch.Generator().manual_seed(seed))


def okddip(seed: int = 0, **switches):
    torch.manual_seed(seed)
    return methods.build("okddip", C, N, feature_dim=D, trunk_dim=D0, **switches)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def batch16() -> tuple[torch.Tensor, torch.Tensor]:
    """One fixed, normalised batch of 16 synthetic images."""
    s = synthetic(num_classes=C, train=16, val=1, seed=0)
    return normalize(s.train_x[:16], s.mean, s.std), s.train_y[:16]


# Registry ----------------------------------------------------------------------------------
def test_unknown_method_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        methods.build("nope")
    for name in ("baseline", "independent", "dml", "cl-ilr", "one", "okddip", "kd"):
        assert name in str(err.value)
    assert set(methods.REGISTRY) == {"baseline", "independent", "dml", "cl-ilr", "one",
                                     "okddip", "kd"}


def test_methods_that_need_sizes_say_so():
    with pytest.raises(ValueError, match="feature_dim"):
        methods.build("okddip", C, N)
    with pytest.raises(ValueError, match="trunk_dim"):
        methods.build("one", C, N)
    with pytest.raises(ValueError):
        methods.build("okddip", C, 2, feature_dim=D)  # a leader and one peer only


# OKDDip ------------------------------------------------------------------------------------
def test_okddip_roles_and_defaults():
    method = okddip()
    assert method.leader == N - 1
    assert method.peers == [0, 1, 2]
    assert method.temperature == 3.0 and method.alpha == 1.0 and method.rampup == 80
    assert method.detach is False  # the released code detaches nothing
    assert tuple(method.aggregator.query.weight.shape) == (D // 8, D)


@pytest.mark.parametrize("epoch", [0, 40, 100])
def test_okddip_total_matches_hand_formula(epoch):
    method = okddip()
    out, y = group_output(), labels()
    terms = method(out, y, epoch)
    ref = okddip_by_hand(method, out, y, epoch)
    for k in ("ce", "dis1", "dis2", "total"):
        assert close(terms[k], ref[k]), (k, terms[k].item(), ref[k].item())
    assert terms["dis1"].item() > 0 and terms["dis2"].item() > 0
    torch.testing.assert_close(method.weights(out).double(), ref["alpha"], rtol=1e-5, atol=1e-6)
    # a leader inside the attention (softmax over all n branches) is a different number
    Wq, Wk = method.aggregator.query.weight, method.aggregator.key.weight
    alpha_n = attention_by_hand(Wq, Wk, out.features)
    t_n = torch.einsum("bac,bcj->baj", alpha_n, out.logits.double())
    wrong_dis1 = sum(kd_by_hand(out.logits[:, a], t_n[:, a]) for a in range(N - 1))
    assert not close(terms["dis1"], wrong_dis1, rel=1e-3)
    # so is the leader learning from the mean of ALL branches (itself included)
    wrong_dis2 = kd_by_hand(out.logits[:, N - 1], out.logits.double().mean(dim=1))
    assert not close(terms["dis2"], wrong_dis2, rel=1e-3)


def test_okddip_alpha_and_temperature_switches():
    method = okddip(alpha=0.5, temperature=2.0, rampup=0)
    out, y = group_output(1), labels(1)
    terms = method(out, y, 0)
    m = N - 1
    z = out.logits
    alpha = attention_by_hand(method.aggregator.query.weight, method.aggregator.key.weight,
                              out.features[:, :m])
    t = torch.einsum("bac,bcj->baj", alpha, z[:, :m].double())
    dis1 = sum(kd_by_hand(z[:, a], t[:, a], 2.0) for a in range(m))
    dis2 = kd_by_hand(z[:, m], z[:, :m].double().mean(1), 2.0)
    ce = sum(ce_by_hand(z[:, i], y) for i in range(N))
    assert close(terms["total"], ce + 0.5 * 1.0 * (dis1 + dis2))  # rampup 0: w = 1


def test_okddip_leader_gives_and_receives_no_attention():
    method = okddip()
    out, y = group_output(2), labels(2)
    terms = method(out, y, 100)
    weights = method.weights(out)
    assert tuple(weights.shape) == (B, N - 1, N - 1)
    g = torch.Generator().manual_seed(99)
    f2, z2 = out.features.clone(), out.logits.clone()
    f2[:, N - 1] = 5.0 * torch.randn(B, D, generator=g)
    z2[:, N - 1] = 5.0 * torch.randn(B, C, generator=g)
    out2 = GroupOutput(f2, z2, out.trunk)
    terms2 = method(out2, y, 100)
    torch.testing.assert_close(method.weights(out2), weights)
    assert terms2["dis1"].item() == pytest.approx(terms["dis1"].item(), rel=1e-6)
    # the leader's own terms do change
    assert terms2["dis2"].item() != pytest.approx(terms["dis2"].item(), rel=1e-3)
    assert terms2["ce"].item() != pytest.approx(terms["ce"].item(), rel=1e-3)


def test_okddip_projections_get_gradient_by_default():
    method = okddip()
    out, y = group_output(3, requires_grad=True), labels(3)
    method(out, y, 100)["total"].backward()
    for proj in (method.aggregator.query, method.aggregator.key):
        assert proj.weight.grad is not None
        assert proj.weight.grad.abs().sum().item() > 0
    # and the gradient of L_dis1 flows through the targets into the other peers' logits
    assert out.features.grad is not None and out.features.grad.abs().sum().item() > 0


def test_okddip_projections_get_no_gradient_when_detached():
    method = okddip(detach=True)
    out, y = group_output(3, requires_grad=True), labels(3)
    method(out, y, 100)["total"].backward()
    for proj in (method.aggregator.query, method.aggregator.key):
        assert proj.weight.grad is None or proj.weight.grad.abs().sum().item() == 0
    # the features only reach the loss through the attention: nothing flows back to them
    assert out.features.grad is None or out.features.grad.abs().sum().item() == 0
    # the loss value itself does not depend on detach
    ref = okddip_by_hand(method, out, y, 100)
    assert close(method(out, y, 100)["total"], ref["total"])


def test_okddip_detached_dis1_gradient_reaches_only_the_student():
    """With detach, d L_dis1 / d z_b for b != a comes only from b's own term."""
    method = okddip(detach=True, second_level=False)
    out = group_output(4)
    z = out.logits.clone().requires_grad_(True)
    out = GroupOutput(out.features, z, out.trunk)
    terms = method(out, labels(4), 100)
    (g,) = torch.autograd.grad(terms["dis1"], z)
    targets = torch.einsum("bac,bcj->baj", method.weights(out).double(),
                           z[:, : N - 1].detach().double())
    for a in range(N - 1):  # grad of T^2 KL(p_t || p_s) w.r.t. z_s = T (p_s - p_t) / B
        expected = T * (softmax_by_hand(z[:, a].detach().double() / T)
                        - softmax_by_hand(targets[:, a] / T)) / B
        torch.testing.assert_close(g[:, a].double(), expected, rtol=1e-4, atol=1e-6)
    assert g[:, N - 1].abs().sum().item() == 0


def test_okddip_without_second_level_drops_dis2():
    method = okddip(second_level=False)
    out, y = group_output(5), labels(5)
    terms = method(out, y, 100)
    ref = okddip_by_hand(method, out, y, 100)
    assert terms["dis2"].item() == 0.0
    assert close(terms["dis1"], ref["dis1"])
    assert close(terms["total"], ref["ce"] + ref["dis1"])


def test_okddip_mean_aggregation():
    m = N - 1
    out, y = group_output(6), labels(6)
    z = out.logits
    for mask, target in ((False, lambda a: z[:, :m].double().mean(1)),
                         (True, lambda a: sum(z[:, b].double() for b in range(m) if b != a)
                          / (m - 1))):
        method = okddip(aggregation="mean", mask_diagonal=mask)
        terms = method(out, y, 100)
        dis1 = sum(kd_by_hand(z[:, a], target(a)) for a in range(m))
        assert close(terms["dis1"], dis1), mask
        assert close(terms["dis2"], kd_by_hand(z[:, m], z[:, :m].double().mean(1)))
    assert len(list(okddip(aggregation="mean").parameters())) == 0


def test_okddip_gate_aggregation():
    m = N - 1
    method = okddip(aggregation="gate").eval()  # BN with its (initial) running statistics
    out, y = group_output(7), labels(7)
    terms = method(out, y, 100)
    gate = method.aggregator
    u = out.trunk @ gate.linear.weight.T + gate.linear.bias
    v = (u - gate.bn.running_mean) / torch.sqrt(gate.bn.running_var + gate.bn.eps)
    g = softmax_by_hand((v * gate.bn.weight + gate.bn.bias).clamp_min(0))  # (B, m)
    assert tuple(g.shape) == (B, m)
    torch.testing.assert_close(method.weights(out), g.detach(), rtol=1e-5, atol=1e-6)
    teacher = (g[:, :, None].double() * out.logits[:, :m].double()).sum(1)
    dis1 = sum(kd_by_hand(out.logits[:, a], teacher) for a in range(m))
    assert close(terms["dis1"], dis1)


def test_okddip_gate_aggregation_needs_trunk_dim():
    with pytest.raises(ValueError):
        methods.build("okddip", C, N, feature_dim=D, aggregation="gate")


def test_okddip_without_aggregation_has_no_first_level():
    method = okddip(aggregation="none")
    out, y = group_output(8), labels(8)
    terms = method(out, y, 100)
    assert terms["dis1"].item() == 0.0
    assert method.weights(out) is None
    ref = okddip_by_hand(okddip(), out, y, 100)
    assert close(terms["total"], ref["ce"] + ref["dis2"])


def test_okddip_probability_aggregation():
    """aggregate='probs': t_a = sum_b alpha_ab p(z_b; T) and the leader learns from the mean
    of the peers' softened probabilities."""
    m = N - 1
    method = okddip(aggregate="probs")
    out, y = group_output(9), labels(9)
    terms = method(out, y, 100)
    z = out.logits.double()
    p = softmax_by_hand(z / T)  # (B, n, C)
    alpha = attention_by_hand(method.aggregator.query.weight, method.aggregator.key.weight,
                              out.features[:, :m])
    t = torch.einsum("bac,bcj->baj", alpha, p[:, :m])

    def kd_probs(student, probs):
        log_ps = log_softmax_by_hand(student / T)
        return T * T * (probs * (probs.log() - log_ps)).sum(-1).sum() / B

    dis1 = sum(kd_probs(z[:, a], t[:, a]) for a in range(m))
    dis2 = kd_probs(z[:, m], p[:, :m].mean(1))
    assert close(terms["dis1"], dis1, rel=1e-4)
    assert close(terms["dis2"], dis2, rel=1e-4)


def test_okddip_rejects_unknown_switches():
    with pytest.raises(ValueError):
        okddip(aggregation="max")
    with pytest.raises(ValueError):
        okddip(aggregate="features")


@pytest.mark.parametrize("m", [2, 5])
def test_okddip_other_group_sizes(m):
    torch.manual_seed(0)
    method = methods.build("okddip", C, m + 1, feature_dim=D)
    out, y = group_output(10, n=m + 1), labels(10)
    assert method.leader == m and method.peers == list(range(m))
    terms = method(out, y, 100)
    ref = okddip_by_hand(method, out, y, 100, m=m)
    assert close(terms["total"], ref["total"])


# ONE ---------------------------------------------------------------------------------------
def one_gate_by_hand(gate, trunk: torch.Tensor) -> torch.Tensor:
    """softmax(ReLU(BN(Linear(trunk)))) with training-mode batch statistics."""
    u = trunk @ gate.linear.weight.T + gate.linear.bias
    mu, var = u.mean(0), u.var(0, unbiased=False)
    v = (u - mu) / torch.sqrt(var + gate.bn.eps) * gate.bn.weight + gate.bn.bias
    return softmax_by_hand(v.clamp_min(0))


def test_one_loss_matches_spec():
    torch.manual_seed(0)
    method = methods.build("one", C, N, trunk_dim=D0).train()
    with torch.no_grad():
        method.gate.bn.weight.uniform_(0.5, 2.0)
    out, y = group_output(11), labels(11)
    terms = method(out, y, 40)
    g = one_gate_by_hand(method.gate, out.trunk)  # (B, n)
    torch.testing.assert_close(g.sum(-1), torch.ones(B))
    torch.testing.assert_close(method.weights(out), g.detach(), rtol=1e-5, atol=1e-6)
    z = out.logits.double()
    z_e = (g[:, :, None].double() * z).sum(1)
    ce = sum(ce_by_hand(z[:, i], y) for i in range(N))
    kd = sum(kd_by_hand(z[:, i], z_e) for i in range(N))
    total = ce + ce_by_hand(z_e, y) + w_by_hand(40) * kd
    assert close(terms["ce"], ce)
    assert close(terms["ce_teacher"], ce_by_hand(z_e, y))
    assert close(terms["kd"], kd)
    assert close(terms["total"], total)
    assert method.leader is None and method.peers == list(range(N))


def test_one_detach_leaves_the_gate_to_the_teacher_ce():
    """detach=True (ONE's own code): the gate learns only from CE(z_e, y)."""
    torch.manual_seed(0)
    method = methods.build("one", C, N, trunk_dim=D0, detach=True).train()
    out, y = group_output(12), labels(12)
    terms = method(out, y, 100)
    params = list(method.gate.linear.parameters())
    g_total = torch.autograd.grad(terms["total"], params, retain_graph=True)
    g_ce = torch.autograd.grad(terms["ce_teacher"], params)
    for a, b in zip(g_total, g_ce):
        torch.testing.assert_close(a, b)
    # without detach the KL term moves the gate too
    method = methods.build("one", C, N, trunk_dim=D0).train()
    torch.manual_seed(0)
    method.load_state_dict(methods.build("one", C, N, trunk_dim=D0).state_dict())
    terms = method(out, y, 100)
    params = list(method.gate.linear.parameters())
    g_total = torch.autograd.grad(terms["total"], params, retain_graph=True)
    g_ce = torch.autograd.grad(terms["ce_teacher"], params)
    assert any((a - b).abs().max().item() > 1e-6 for a, b in zip(g_total, g_ce))


# DML and CL-ILR ------------------------------------------------------------------------------
def test_dml_mean_logits_matches_hand_formula():
    method = methods.build("dml", C, N)
    out, y = group_output(13), labels(13)
    terms = method(out, y, 40)
    z = out.logits.double()
    kd = sum(kd_by_hand(z[:, k], sum(z[:, j] for j in range(N) if j != k) / (N - 1))
             for k in range(N))
    ce = sum(ce_by_hand(z[:, k], y) for k in range(N))
    assert close(terms["kd"], kd)
    assert close(terms["ce"], ce)
    assert close(terms["total"], ce + kd)  # released train_DML.py: no ramp-up, no alpha
    assert method.leader is None and method.peers == list(range(N))


def test_dml_pairwise_kl_matches_hand_formula_and_differs_from_mean_logits():
    method = methods.build("dml", C, N, target="pairwise-kl")
    out, y = group_output(14), labels(14)
    terms = method(out, y, 100)
    z = out.logits.double()
    kd = sum(sum(kd_by_hand(z[:, k], z[:, j]) for j in range(N) if j != k) / (N - 1)
             for k in range(N))
    assert close(terms["kd"], kd)
    assert close(terms["total"], sum(ce_by_hand(z[:, k], y) for k in range(N)) + kd)
    mean_form = methods.build("dml", C, N)(out, y, 100)["kd"]
    assert not close(terms["kd"], mean_form, rel=1e-3)  # the two forms are different


def test_dml_rejects_unknown_target():
    with pytest.raises(ValueError):
        methods.build("dml", C, N, target="mode")


def test_cl_ilr_loss_is_dml_mean_logits():
    out, y = group_output(15), labels(15)
    terms = methods.build("cl-ilr", C, N)(out, y, 100)
    z = out.logits.double()
    kd = sum(kd_by_hand(z[:, k], sum(z[:, j] for j in range(N) if j != k) / (N - 1))
             for k in range(N))
    assert close(terms["kd"], kd)
    assert methods.REGISTRY["cl-ilr"].trunk_grad_scale(4) == pytest.approx(0.25)
    assert methods.REGISTRY["okddip"].trunk_grad_scale(4) == 1.0


def test_cl_ilr_divides_the_trunk_gradient_by_n(batch16):
    x, y = batch16
    x, y = x[:8], y[:8]
    scale = methods.REGISTRY["cl-ilr"].trunk_grad_scale(N)
    torch.manual_seed(0)
    scaled = models.build("resnet8", C, N, "branch", width=4, trunk_grad_scale=scale)
    plain = models.build("resnet8", C, N, "branch", width=4)
    plain.load_state_dict(scaled.state_dict())
    method = methods.build("cl-ilr", C, N)
    outs = []
    for net in (scaled, plain):
        net.train()
        out = net(x)
        method(out, y, 100)["total"].backward()
        outs.append(out)
    torch.testing.assert_close(outs[0].logits, outs[1].logits)  # identical forward
    trunk_s = dict(scaled.trunk.named_parameters())
    trunk_p = dict(plain.trunk.named_parameters())
    checked = 0
    for name, p in trunk_p.items():
        assert p.grad.abs().sum().item() > 0
        torch.testing.assert_close(trunk_s[name].grad, p.grad / N, rtol=1e-4, atol=1e-7)
        checked += 1
    assert checked > 0
    for (name, ps), pp in zip(scaled.peers.named_parameters(), plain.peers.parameters()):
        torch.testing.assert_close(ps.grad, pp.grad, rtol=1e-4, atol=1e-7)  # branches: as is


# Classic KD --------------------------------------------------------------------------------
def test_kd_loss_with_a_frozen_teacher(batch16):
    x, y = batch16
    x, y = x[:8], y[:8]
    torch.manual_seed(0)
    teacher = models.build("resnet8", C, 1, "single", width=4)
    student = models.build("resnet8", C, 1, "single", width=4)
    method = methods.build("kd", C, 1, teacher=teacher, teacher_leader=0)
    assert method.leader == 0
    method.train()
    assert method.training and not teacher.training  # the teacher stays in eval mode
    assert all(not p.requires_grad for p in teacher.parameters())
    bn_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student.train()
    out = student(x)
    terms = method(out, y, 40, x=x)
    with torch.no_grad():
        z_t = teacher(x).logits[:, 0]
    z_s = out.logits[:, 0]
    assert close(terms["ce"], ce_by_hand(z_s, y))
    assert close(terms["kd"], kd_by_hand(z_s, z_t))
    assert close(terms["total"], ce_by_hand(z_s, y) + kd_by_hand(z_s, z_t))  # no ramp-up
    terms["total"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    for k, v in teacher.state_dict().items():  # BN running statistics untouched
        torch.testing.assert_close(v, bn_before[k])
    with pytest.raises(ValueError):
        method(out, y, 40)  # the teacher needs the input batch


def test_kd_teacher_without_leader_is_the_mean_of_its_branches(batch16):
    x, y = batch16
    x, y = x[:8], y[:8]
    torch.manual_seed(1)
    teacher = models.build("resnet8", C, 3, "branch", width=4)
    method = methods.build("kd", C, 1, teacher=teacher, teacher_leader=None)
    out = group_output(16, n=1)
    terms = method(out, y, 100, x=x)
    with torch.no_grad():
        z_t = teacher.eval()(x).logits.mean(dim=1)
    assert close(terms["kd"], kd_by_hand(out.logits[:, 0], z_t))


# Every method overfits one fixed batch -------------------------------------------------------
LAYOUT = {"baseline": "single", "independent": "branch", "dml": "network", "cl-ilr": "branch",
          "one": "branch", "okddip": "branch", "kd": "single"}


def build_pair(name: str, batch):
    torch.manual_seed(0)
    branches = 1 if LAYOUT[name] == "single" else N
    scale = methods.REGISTRY[name].trunk_grad_scale(branches)
    model = models.build("resnet8", C, branches, LAYOUT[name], width=4, trunk_grad_scale=scale)
    options = {}
    if name == "kd":  # a teacher that knows the batch
        teacher = models.build("resnet8", C, 1, "single", width=4)
        train(teacher, methods.build("baseline", C, 1), batch, steps=30)
        options = {"teacher": teacher, "teacher_leader": 0}
    method = methods.build(name, C, branches, feature_dim=D, trunk_dim=D0, **options)
    return model, method


def train(model, method, batch, steps: int) -> list[float]:
    x, y = batch
    params = [p for p in [*model.parameters(), *method.parameters()] if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    model.train()
    method.train()
    losses = []
    for _ in range(steps):
        out = model(x)
        total = method(out, y, 100, x=x)["total"]  # epoch 100: w = 1
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(total.item())
    return losses


@pytest.mark.parametrize("name", list(LAYOUT))
def test_every_method_overfits_a_fixed_batch(name, batch16):
    model, method = build_pair(name, batch16)
    losses = train(model, method, batch16, steps=35)
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0], (name, losses[0], losses[-1])
