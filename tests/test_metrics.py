"""Metrics on hand-made logits, against the spec (sections 1 and 6).

- the leader's accuracy is the leader branch's (OKDDip: branch m); without a leader, the
  mean single-branch accuracy;
- the ensemble is the argmax of the MEAN OF THE PEERS' LOGITS;
- div_l2 is the mean over samples of sum_{a<b} ||p_a - p_b||_2 / (m(m-1)/2), p = softmax(z)
  at T = 1 (the released code divides by 3 whatever m is);
- disagreement, KL, JS and the ensemble gain beside it.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from okddip_edu.metrics import Evaluator, accuracy, attention_stats, topk_correct

# 4 samples, 4 branches (peers 0, 1, 2 and leader 3), 3 classes; labels 0, 1, 2, 0.
LOGITS = torch.tensor([
    # b0             b1             b2             b3 (leader)
    [[10., 0., 0.], [0., 3., 0.], [0., 3., 0.], [1., 0., 0.]],  # y=0: b0 ok, b3 ok, ens ok
    [[0., 2., 0.], [0., 2., 0.], [2., 0., 0.], [0., 0., 2.]],  # y=1: b0 ok, b1 ok, ens ok
    [[0., 0., 1.], [1., 0., 0.], [0., 0., 4.], [0., 0., 3.]],  # y=2: b0, b2, b3 ok, ens ok
    [[0., 1., 0.], [0., 1., 0.], [0., 1., 0.], [5., 0., 0.]],  # y=0: only b3 ok
])
Y = torch.tensor([0, 1, 2, 0])
# per branch: b0 3/4, b1 1/4, b2 1/4, b3 3/4; ensemble of the peers' logits: 3/4


def evaluate(peers, leader, logits=LOGITS, y=Y, weights=None, split: int = 2) -> dict:
    """Feed the samples in two batches, so accumulation across batches is exercised."""
    ev = Evaluator(peers=peers, leader=leader)
    ev.update(logits[:split], y[:split], None if weights is None else weights[:split])
    ev.update(logits[split:], y[split:], None if weights is None else weights[split:])
    return ev.result()


def softmax_list(z: list[float]) -> list[float]:
    mx = max(z)
    ex = [math.exp(v - mx) for v in z]
    s = sum(ex)
    return [v / s for v in ex]


def argmax_list(z: list[float]) -> int:
    return max(range(len(z)), key=lambda i: z[i])


def peer_probs(logits: torch.Tensor, peers: list[int]) -> list[list[list[float]]]:
    """[sample][peer] -> softmax probabilities (T = 1), as plain Python lists."""
    return [[softmax_list(logits[i, a].tolist()) for a in peers] for i in range(len(logits))]


def random_logits(B: int, n: int, C: int, seed: int, scale: float = 2.0) -> torch.Tensor:
    return scale * torch.randn(B, n, C, generator=torch.Generator().manual_seed(seed))


# Accuracy --------------------------------------------------------------------------------
def test_per_branch_top1_leader_and_ensemble():
    r = evaluate(peers=[0, 1, 2], leader=3)
    assert r["top1_b0"] == pytest.approx(75.0)
    assert r["top1_b1"] == pytest.approx(25.0)
    assert r["top1_b2"] == pytest.approx(25.0)
    assert r["top1_b3"] == pytest.approx(75.0)
    assert r["top1_leader"] == pytest.approx(75.0)  # the leader branch, not a mean
    assert r["top1_ens"] == pytest.approx(75.0)
    assert r["top1_peer_mean"] == pytest.approx(125.0 / 3)
    assert r["top1_peer_best"] == pytest.approx(75.0)
    assert r["ens_gain"] == pytest.approx(75.0 - 125.0 / 3)
    for k in ("top5_b0", "top5_b3", "top5_ens", "top5_leader"):  # C = 3 < 5: all correct
        assert r[k] == pytest.approx(100.0)


def test_leader_is_the_mean_branch_accuracy_without_a_leader():
    r = evaluate(peers=[0, 1, 2, 3], leader=None)
    assert r["top1_leader"] == pytest.approx((75 + 25 + 25 + 75) / 4)
    assert r["top1_leader"] != pytest.approx(r["top1_b3"])


def test_ensemble_is_the_argmax_of_mean_peer_logits():
    """Mean of logits, not mean of probabilities nor majority vote: they differ here."""
    hits_logits = hits_probs = hits_vote = 0
    for i in range(len(Y)):
        rows = [LOGITS[i, a].tolist() for a in (0, 1, 2)]
        mean_z = [sum(r[c] for r in rows) / 3 for c in range(3)]
        mean_p = [sum(softmax_list(r)[c] for r in rows) / 3 for c in range(3)]
        votes = [argmax_list(r) for r in rows]
        vote = max(range(3), key=votes.count)
        hits_logits += argmax_list(mean_z) == Y[i].item()
        hits_probs += argmax_list(mean_p) == Y[i].item()
        hits_vote += vote == Y[i].item()
    assert 100.0 * hits_logits / 4 == pytest.approx(75.0)
    assert 100.0 * hits_probs / 4 == pytest.approx(50.0)
    assert 100.0 * hits_vote / 4 == pytest.approx(50.0)
    r = evaluate(peers=[0, 1, 2], leader=3)
    assert r["top1_ens"] == pytest.approx(100.0 * hits_logits / 4)


def test_ensemble_uses_the_peers_only():
    r = evaluate(peers=[0, 1, 2], leader=3)
    # with the leader in the mean, sample 3's strong leader vote flips the ensemble right
    assert evaluate(peers=[0, 1, 2, 3], leader=None)["top1_ens"] == pytest.approx(100.0)
    assert r["top1_ens"] == pytest.approx(75.0)


def test_single_branch_has_no_diversity():
    r = evaluate(peers=[0], leader=0, logits=LOGITS[:, :1])
    assert r["top1_leader"] == pytest.approx(75.0)
    assert r["top1_ens"] == pytest.approx(75.0)
    assert r["ens_gain"] == pytest.approx(0.0)
    for k in ("div_l2", "div_disagree", "div_kl", "div_js"):
        assert math.isnan(r[k])


def test_topk_by_hand():
    z = torch.tensor([[0., 1., 2., 3., 4., 5., 6.],  # label 0 is rank 7: not in top-5
                      [6., 5., 4., 3., 2., 1., 0.],  # label 4 is rank 5: in top-5, not top-1
                      [0., 0., 9., 0., 0., 0., 0.]])  # label 2 is top-1
    y = torch.tensor([0, 4, 2])
    t1, t5 = topk_correct(z, y)
    assert (t1.item(), t5.item()) == (1, 2)
    assert accuracy(z, y) == pytest.approx(100.0 / 3)
    assert accuracy(z, y, k=5) == pytest.approx(200.0 / 3)


# Diversity -------------------------------------------------------------------------------
def l2_pairs_by_hand(logits: torch.Tensor, peers: list[int]) -> list[float]:
    """Per sample: sum over pairs a < b of ||p_a - p_b||_2."""
    out = []
    for probs in peer_probs(logits, peers):
        s = 0.0
        for a, b in itertools.combinations(range(len(peers)), 2):
            s += math.sqrt(sum((pa - pb) ** 2 for pa, pb in zip(probs[a], probs[b])))
        out.append(s)
    return out


@pytest.mark.parametrize("m", [3, 4, 5])
def test_div_l2_is_mean_pairwise_distance_over_m_choose_2(m):
    logits = random_logits(6, m + 1, 5, seed=m)
    peers = list(range(m))
    sums = l2_pairs_by_hand(logits, peers)
    pairs = m * (m - 1) // 2
    expected = sum(s / pairs for s in sums) / len(sums)
    r = evaluate(peers=peers, leader=m, logits=logits, y=torch.zeros(6, dtype=torch.long),
                 split=3)
    assert r["div_l2"] == pytest.approx(expected, rel=1e-5)
    released = sum(s / 3 for s in sums) / len(sums)  # the released code's fixed divisor
    if m == 3:
        assert released == pytest.approx(expected)
    else:  # with m != 3 peers the released statistic is a different number
        assert r["div_l2"] != pytest.approx(released, rel=1e-2)
        assert released / r["div_l2"] == pytest.approx(pairs / 3, rel=1e-5)


def test_div_disagree_by_hand():
    # peers' top-1 per sample: (0, 1, 1) -> pairs differ 2 of 3; (2, 2, 2) -> 0 of 3
    logits = torch.tensor([
        [[5., 0., 0.], [0., 5., 0.], [0., 4., 1.], [0., 0., 0.]],
        [[0., 0., 1.], [0., 0., 2.], [1., 0., 3.], [0., 0., 0.]],
    ])
    r = evaluate(peers=[0, 1, 2], leader=3, logits=logits, y=torch.tensor([0, 2]), split=1)
    assert r["div_disagree"] == pytest.approx((2 / 3 + 0) / 2)


def test_div_disagree_random_by_hand():
    m = 4
    logits = random_logits(10, m, 3, seed=7)
    total = 0.0
    for i in range(10):
        top = [argmax_list(logits[i, a].tolist()) for a in range(m)]
        pairs = list(itertools.combinations(range(m), 2))
        total += sum(top[a] != top[b] for a, b in pairs) / len(pairs)
    r = evaluate(peers=list(range(m)), leader=None, logits=logits,
                 y=torch.zeros(10, dtype=torch.long), split=5)
    assert r["div_disagree"] == pytest.approx(total / 10)


def test_div_kl_and_js_by_hand():
    m = 3
    logits = random_logits(5, m + 1, 4, seed=11)
    kl_total = js_total = 0.0
    for probs in peer_probs(logits, list(range(m))):
        ordered = [(a, b) for a in range(m) for b in range(m) if a != b]
        kl_total += sum(sum(p * math.log(p / q) for p, q in zip(probs[a], probs[b]))
                        for a, b in ordered) / len(ordered)
        js = 0.0
        pairs = list(itertools.combinations(range(m), 2))
        for a, b in pairs:
            mid = [(p + q) / 2 for p, q in zip(probs[a], probs[b])]
            js += 0.5 * sum(p * math.log(p / c) for p, c in zip(probs[a], mid))
            js += 0.5 * sum(q * math.log(q / c) for q, c in zip(probs[b], mid))
        js_total += js / len(pairs)
    r = evaluate(peers=list(range(m)), leader=m, logits=logits,
                 y=torch.zeros(5, dtype=torch.long))
    assert r["div_kl"] == pytest.approx(kl_total / 5, rel=1e-4)
    assert r["div_js"] == pytest.approx(js_total / 5, rel=1e-4)


def test_div_js_is_bounded_by_log_2():
    # peers confidently on different classes: JS close to its maximum log 2
    logits = torch.full((3, 3, 3), -30.0)
    for a in range(3):
        logits[:, a, a] = 30.0
    r = evaluate(peers=[0, 1, 2], leader=None, logits=logits, y=torch.zeros(3, dtype=torch.long),
                 split=1)
    assert r["div_js"] <= math.log(2) + 1e-6
    assert r["div_js"] == pytest.approx(math.log(2), rel=1e-3)
    assert r["div_disagree"] == pytest.approx(1.0)
    assert r["div_l2"] == pytest.approx(math.sqrt(2), rel=1e-4)
    r = evaluate(peers=[0, 1, 2, 3], leader=None, logits=random_logits(8, 4, 10, 3, scale=5.0),
                 y=torch.zeros(8, dtype=torch.long))
    assert 0.0 < r["div_js"] <= math.log(2)


def test_identical_peers_have_zero_diversity():
    one = random_logits(6, 1, 5, seed=5)
    logits = torch.cat([one, one, one, random_logits(6, 1, 5, seed=6)], dim=1)  # 3 equal peers
    r = evaluate(peers=[0, 1, 2], leader=3, logits=logits, y=torch.zeros(6, dtype=torch.long))
    for k in ("div_l2", "div_disagree", "div_kl", "div_js"):
        assert r[k] == pytest.approx(0.0, abs=1e-6), k
    assert r["ens_gain"] == pytest.approx(0.0)


def test_ens_gain_is_ensemble_minus_mean_peer():
    logits = random_logits(20, 4, 5, seed=8)
    y = torch.randint(0, 5, (20,), generator=torch.Generator().manual_seed(9))
    r = evaluate(peers=[0, 1, 2], leader=3, logits=logits, y=y, split=10)
    peer_acc = [100.0 * sum(argmax_list(logits[i, a].tolist()) == y[i].item()
                            for i in range(20)) / 20 for a in range(3)]
    ens_acc = 100.0 * sum(argmax_list(logits[i, :3].mean(0).tolist()) == y[i].item()
                          for i in range(20)) / 20
    assert r["top1_ens"] == pytest.approx(ens_acc)
    assert r["ens_gain"] == pytest.approx(ens_acc - sum(peer_acc) / 3)


# Attention statistics ----------------------------------------------------------------------
def entropy_list(p: list[float]) -> float:
    return -sum(v * math.log(v) for v in p if v > 0)


def test_attention_stats_by_hand():
    w1 = [[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]
    w2 = [[1 / 3] * 3 for _ in range(3)]
    s = attention_stats(torch.tensor([w1, w2]))
    for i in range(3):
        for j in range(3):
            assert s[f"att_a{i}_b{j}"] == pytest.approx((w1[i][j] + w2[i][j]) / 2)
    assert s["att_diag"] == pytest.approx(sum((w1[i][i] + w2[i][i]) / 2 for i in range(3)) / 3)
    rows = w1 + w2
    assert s["att_entropy"] == pytest.approx(sum(entropy_list(r) for r in rows) / len(rows),
                                             rel=1e-5)


@pytest.mark.parametrize("m", [2, 3, 5])
def test_uniform_and_identity_attention(m):
    uniform = attention_stats(torch.full((4, m, m), 1.0 / m))
    assert uniform["att_diag"] == pytest.approx(1.0 / m)
    assert uniform["att_entropy"] == pytest.approx(math.log(m), rel=1e-5)
    identity = attention_stats(torch.eye(m).expand(4, m, m))
    assert identity["att_diag"] == pytest.approx(1.0)
    assert identity["att_entropy"] == pytest.approx(0.0, abs=1e-6)


def test_gate_stats_by_hand():
    g = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    s = attention_stats(g)
    assert s["gate_0"] == pytest.approx(0.4)
    assert s["gate_1"] == pytest.approx(0.2)
    assert s["gate_2"] == pytest.approx(0.4)
    assert s["gate_entropy"] == pytest.approx(entropy_list([0.7, 0.2, 0.1]), rel=1e-5)


def test_evaluator_reports_attention_over_all_batches():
    m = 3
    weights = torch.stack([torch.eye(m), torch.eye(m),
                           torch.full((m, m), 1 / m), torch.full((m, m), 1 / m)])
    r = evaluate(peers=[0, 1, 2], leader=3, weights=weights)
    assert r["att_diag"] == pytest.approx((1.0 + 1.0 / m) / 2)
    assert r["att_entropy"] == pytest.approx(math.log(m) / 2, rel=1e-5)
    assert r["att_a0_b1"] == pytest.approx((0.0 + 1.0 / m) / 2)
    assert "att_diag" not in evaluate(peers=[0, 1, 2], leader=3)
