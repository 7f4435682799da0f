# %% [markdown]
# # 04 · Two-level training: one OKDDip step by hand, then a full run
#
# {{colab_badge}}
#
# OKDDip distils at two levels. At the **first level** each of the m auxiliary peers learns
# from its own target, an attention-weighted mix of the peers. At the **second level** the
# group leader learns from the peer ensemble. This notebook takes one training step apart
# on a real batch, recomputes every loss by hand and checks it against the library, then
# trains the whole thing.
#
# ![The OKDDip group: a shared trunk, three peers and a leader, the attention, and the two distillation levels](../assets/okddip_group.png)
#
# *The group this notebook trains.* One image goes through the shared trunk, then through
# four branches: three auxiliary peers (numbered 1 to 3 in the figure, branches 0, 1, 2 in
# the code) and the group leader (branch 3), the one network kept after training. Level 1
# (purple): the attention mixes the peers' logits into one target per peer. Level 2
# (orange): the leader learns from the mean of the peers' logits. Every branch also learns
# from the labels.
#
# Paper: D. Chen, J.-P. Mei, C. Wang, Y. Feng, C. Chen, *Online Knowledge Distillation with
# Diverse Peers*, AAAI 2020 ([arXiv:1912.00350](https://arxiv.org/abs/1912.00350)).
# Released code: [github.com/DefangChen/OKDDip](https://github.com/DefangChen/OKDDip).
#
# **What you will learn**
# - the data flow of one step: trunk → branches → features and logits → attention →
#   targets → L_gt, L_dis1, L_dis2 → total loss → one SGD step;
# - the shapes at every stage: (B, n, d) features, (B, n, C) logits, (B, m, m) attention;
# - why the distillation is faded in with a ramp-up w(e), and what it looks like;
# - where the gradient goes: into the trunk, every branch, and the attention projections.
#
# **Prerequisites**: notebook 01 (the KL distillation loss and T²), notebook 03 (the
# attention aggregator). Notebook 00 shows a run from the outside.
#
# **Run time**
#
# | profile | the full run in section 7 | time |
# |---|---|---|
# | full (GPU) | CIFAR-100, ResNet-32, 60 epochs (the paper: 300), lr ×0.1 at epochs 30 and 45 | not measured yet (no GPU was available) |
# | quick (CPU) | 4,085 CIFAR-10 images, ResNet-8, 12 epochs (the quick preset): shipped trained, loaded by default | under a minute for the whole notebook; about a minute with `TRAIN_LIVE = True` (53.5 s on 2 cores) |
# | smoke (CI) | 256 images, 2 epochs, tiny widths | seconds |
#
# The instructor guide (`notebooks/README.md`) lists the measured times of both modes.

# %%
# {{install_cell}}

# %%
from okddip_edu import course

nb = course.setup(full_epochs=60)

# %% [markdown]
# ## 1. The group and one real batch
#
# We build the profile's network in the **branch layout**: one shared trunk and n = 4
# branches (peers 0, 1, 2 and the leader, branch 3), and the OKDDip method, which owns the
# attention. Then we draw one augmented training batch.

# %%
import torch
import torch.nn.functional as F

from okddip_edu import data, models
from okddip_edu.factory import build_method

cfg = nb.config(method="okddip")
splits = data.load(cfg)
C = splits.num_classes
torch.manual_seed(nb.seed)
model = models.build(cfg.arch, C, cfg.branches, layout="branch", width=cfg.width).to(nb.device)
method = build_method(cfg, C).to(nb.device)
model.train()
method.train()
loader = data.DeviceLoader(splits.train_x, splits.train_y, cfg.batch_size, splits.mean,
                           splits.std, device=nb.device, train=True, seed=nb.seed)
x, y = next(iter(loader))
m = method.m  # auxiliary peers; the leader is branch m
print(f"{cfg.arch} (width {cfg.width}), n = {cfg.branches} branches: peers {method.peers}, "
      f"leader {method.leader}")
print(f"batch: x {tuple(x.shape)}, y {tuple(y.shape)}, C = {C} classes")

# %% [markdown]
# ## 2. Forward: trunk, then every branch
#
# The trunk turns images into a low-level feature map, shared by all branches. Each branch
# (`model.peers[i]`) applies its own high-level layers, pools them into a feature h_i of
# size d, and classifies it into logits z_i. The model's forward pass does exactly this
# and stacks the results; we do it by hand and compare.

# %%
fmap = model.trunk(x)  # (B, c0, h, w)
print(f"trunk feature map: {tuple(fmap.shape)}")
hs, zs = zip(*(peer(fmap) for peer in model.peers))
features = torch.stack(hs, dim=1)  # (B, n, d)
logits = torch.stack(zs, dim=1)  # (B, n, C)
print(f"features h: {tuple(features.shape)}   logits z: {tuple(logits.shape)}")

out = model(x)  # GroupOutput(features, logits, trunk)
assert torch.allclose(out.features, features, atol=1e-5)
assert torch.allclose(out.logits, logits, atol=1e-5)
print("model(x) gives the same features and logits: OK")

# %% [markdown]
# ## 3. First level: attention over the peers
#
# Only the m = 3 peers take part (the leader neither gives nor receives attention):
#
# q_a = W_q h_a, k_b = W_k h_b (W_q, W_k: d → d/8, no bias), e_ab = q_a · k_b,
# α_ab = softmax_b(e_ab), t_a = Σ_b α_ab z_b.
#
# `method.aggregator` is that attention module; we recompute it from its two weight
# matrices. With the ablation switch `mask_diagonal=True` the module sets e_aa to −∞
# before the softmax (α_aa = 0, a peer is left out of its own target); the hand
# computation does the same, so the check holds for both settings.

# %%
att = method.aggregator
h_peers, z_peers = out.features[:, :m], out.logits[:, :m]  # (B, m, d), (B, m, C)
targets, alpha = att(h_peers, z_peers)  # (B, m, C), (B, m, m)

q = h_peers @ att.query.weight.T  # (B, m, d/8)
k = h_peers @ att.key.weight.T  # (B, m, d/8)
e = q @ k.transpose(1, 2)  # (B, m, m)  no 1/sqrt(d) scaling
if att.mask_diagonal:  # the ablation: e_aa = -inf, hence alpha_aa = 0
    e = e.masked_fill(torch.eye(m, dtype=torch.bool, device=e.device), float("-inf"))
alpha_hand = torch.softmax(e, dim=-1)  # rows sum to 1
targets_hand = alpha_hand @ z_peers  # (B, m, C)
assert torch.allclose(alpha, alpha_hand, atol=1e-5)
assert torch.allclose(targets, targets_hand, atol=1e-4)
print(f"W_q, W_k: {tuple(att.query.weight.shape)} each;  alpha: {tuple(alpha.shape)};  "
      f"targets: {tuple(targets.shape)}")
print(f"attention by hand == method.aggregator (mask_diagonal = {att.mask_diagonal}): OK")
print("alpha of the first image (row a: peer a's weights over the peers):")
print(alpha[0].detach().cpu().numpy().round(3))

# %% [markdown]
# **What to notice.** At initialisation the weights are close to uniform (1/3): W_q and
# W_k are random and small, so the dot products e_ab are small. They become sharper only
# if training makes them so; the gradient reaching W_q and W_k comes from L_dis1 through
# the targets t_a (section 5).

# %% [markdown]
# ## 4. The three losses, by hand
#
# With p(z; T) = softmax(z / T) and KL_T(teacher → student) = T² · (1/B) Σ_i
# KL(p(z_teacher^i; T) ‖ p(z_student^i; T)):
#
# - L_gt = Σ_a CE(z_a, y) + CE(z_leader, y): every branch learns from the labels;
# - L_dis1 = Σ_a KL_T(t_a → z_a): each peer learns from its own attention target;
# - L_dis2 = KL_T((1/m) Σ_a z_a → z_leader): the leader learns from the peer ensemble;
# - L = L_gt + λ w(e) (L_dis1 + L_dis2), with the distillation weight λ = 1 (the config
#   field `alpha`; we write λ so that α keeps meaning the attention weights α_ab).
#
# We take an epoch after the ramp-up, so that w(e) = 1 and both distillation terms count
# fully, and compare with `method(out, y, epoch)`.

# %%
def kl_t(student, teacher, T):
    """T^2 KL(softmax(teacher/T) || softmax(student/T)), summed over classes, mean over B."""
    log_s = F.log_softmax(student / T, dim=-1)
    log_t = F.log_softmax(teacher / T, dim=-1)
    return T * T * (log_t.exp() * (log_t - log_s)).sum(dim=-1).mean()


T, epoch = cfg.temperature, cfg.rampup
z = out.logits
L_gt = sum(F.cross_entropy(z[:, i], y) for i in range(cfg.branches))
L_dis1 = sum(kl_t(z[:, a], targets[:, a], T) for a in range(m))
L_dis2 = kl_t(z[:, m], z[:, :m].mean(dim=1), T)
w = method.weight(epoch)
L = L_gt + w * (L_dis1 + L_dis2)

terms = method(out, y, epoch)
for name, mine in [("ce", L_gt), ("dis1", L_dis1), ("dis2", L_dis2), ("total", L)]:
    assert torch.allclose(terms[name], mine, rtol=1e-4, atol=1e-5), name
    print(f"{name:>5}: by hand {mine.item():.5f}   method {terms[name].item():.5f}")
print(f"w({epoch}) = {w:.3f}; all four terms agree with method(out, y, epoch)")

# %% [markdown]
# **What to notice.** L_gt is a **sum** of four cross-entropies, about 4 ln C for
# untrained branches. The distillation terms are small because untrained branches all
# predict nearly uniform distributions; section 7 shows that they stay small during
# training too.
#
# The same check on fixed, seeded random logits (no images, no device; the output is
# identical on every machine). This also shows the shapes the method expects:

# %% tags=["nbval-check-output"]
from okddip_edu import methods
from okddip_edu.models import GroupOutput

g = torch.Generator().manual_seed(0)
B, n, d, C_fixed = 8, 4, 64, 10
fixed = GroupOutput(features=torch.randn(B, n, d, generator=g),  # (B, n, d)
                    logits=3.0 * torch.randn(B, n, C_fixed, generator=g),  # (B, n, C)
                    trunk=torch.randn(B, 16, generator=g))  # (B, d0)
labels = torch.randint(0, C_fixed, (B,), generator=g)
torch.manual_seed(0)
okd = methods.build("okddip", C_fixed, n, feature_dim=d, temperature=3.0, rampup=80)
with torch.no_grad():
    t_fixed, a_fixed = okd.aggregator(fixed.features[:, :3], fixed.logits[:, :3])
    lines = [f"features {tuple(fixed.features.shape)}, logits {tuple(fixed.logits.shape)} -> "
             f"attention {tuple(a_fixed.shape)}, targets {tuple(t_fixed.shape)}"]
    for e_ in (0, 40, 80):
        terms_fixed = okd(fixed, labels, e_)
        lines.append(f"epoch {e_:>2} (w = {okd.weight(e_):.4f}): "
                     + "  ".join(f"{k} {v.item():.4f}" for k, v in terms_fixed.items()))
print("\n".join(lines))

# %% [markdown]
# ## 5. The ramp-up w(e)
#
# Early in training the peers are poor teachers: distilling from them would mostly teach
# noise. OKDDip (like the released code of its baselines) multiplies every distillation
# term by the ramp-up of Temporal Ensembling, w(e) = exp(−5 (1 − min(e, L)/L)²), with e
# counted from 0: w(0) = e⁻⁵ ≈ 0.007, w(L/2) = e^−1.25 ≈ 0.29, w(L) = 1. The paper uses
# L = 80 of 300 epochs; this profile's run uses L = `cfg.rampup`.

# %%
from okddip_edu.plots.curves import rampup_curve

print(f"this profile: L = {cfg.rampup} over {cfg.epochs} epochs; the paper: L = 80 over 300")
rampup_curve(sorted({cfg.rampup, 80}), epochs=max(cfg.epochs, 100)).show()

# %% [markdown]
# ## 6. One SGD step
#
# `engine.train_step` does what the training loop does for every batch: forward, the
# method's terms, backward through `total`, one step of SGD (Nesterov, weight decay). The
# optimiser holds the model's parameters **and the method's** (W_q, W_k). After the step we
# look at where the gradient went and whether the loss on this batch went down.

# %%
from okddip_edu import engine

optimizer = engine.make_optimizer(model, method, cfg)
wq_before = att.query.weight.detach().clone()
with torch.no_grad():
    before = {k: v.item() for k, v in method(model(x), y, epoch).items()}
engine.train_step(model, method, optimizer, x, y, epoch, amp=False)


def grad_norm(module):
    return torch.sqrt(sum(p.grad.pow(2).sum() for p in module.parameters()
                          if p.grad is not None)).item()


print("gradient norm per part:")
print(f"  trunk            {grad_norm(model.trunk):.4f}")
for i, peer in enumerate(model.peers):
    print(f"  branch {i} ({'leader' if i == m else 'peer'})  {grad_norm(peer):.4f}")
print(f"  W_q, W_k         {grad_norm(att):.6f}")
print(f"W_q moved by {(att.query.weight - wq_before).norm().item():.2e}")
with torch.no_grad():
    after = {k: v.item() for k, v in method(model(x), y, epoch).items()}
for k in before:
    print(f"{k:>5}: {before[k]:.4f} -> {after[k]:.4f}")

# %% [markdown]
# **What to notice.**
# - The **trunk** gets the sum of four branches' gradients; every branch gets its own.
# - **W_q and W_k do get a gradient**, though a small one: the library detaches nothing
#   (like the released code), so L_dis1 reaches the attention through the targets t_a.
#   With `detach=True`, W_q and W_k would get no gradient and keep their initial values;
#   the attention weights would still change, because they are computed from the
#   features, which keep training ([notebook 03](03_attention_aggregator.ipynb), section
#   4, shows both with the committed `detach` results).
# - One step on one batch usually lowers the loss on that same batch (with lr
#   `cfg.lr`), mostly through the cross-entropy; that is all one step can show.

# %% [markdown]
# ## 7. The whole run, with live plots
#
# Now the training loop repeats that step over every batch and epoch, with the learning
# rate schedule and w(e) updated once per epoch, and evaluates on the validation split
# after each epoch. On a GPU (full profile) this is CIFAR-100 and ResNet-32 for 60 epochs
# (the paper trains 300; the schedule is scaled: lr ×0.1 at epochs 30 and 45, ramp-up
# L = 16). On a CPU (quick profile) it is the quick preset as is.
#
# **Shipped or live.** This run is the same seed-0 group that notebooks 00 and 03 use. The
# package ships it trained (`okddip_edu.pretrained`), so by default the cell loads it and
# replays its epochs into the live plot in a second or two; set `TRAIN_LIVE = True` to
# train it here instead (the quick profile's time is in the table at the top). A config the
# package does not ship (the full profile on a GPU, or any changed field) always trains.

# %%
from okddip_edu import pretrained
from okddip_edu.plots.curves import LivePlot

TRAIN_LIVE = False  # True: train the run here instead of loading the shipped one

run_cfg = nb.config(method="okddip")
print(f"{run_cfg.dataset}, {run_cfg.arch}, {run_cfg.epochs} epochs, {run_cfg.schedule} lr "
      f"{run_cfg.lr}" + (f", milestones {run_cfg.milestones}" if run_cfg.schedule == "multistep"
                        else "") + f", ramp-up L = {run_cfg.rampup}, device {run_cfg.device}")
result = pretrained.fit_or_load(run_cfg, train_live=TRAIN_LIVE, splits=splits,
                                on_epoch_end=LivePlot(title="OKDDip, two levels"))
history = result.history

# %% [markdown]
# **What to notice** (numbers from the shipped run, quick profile, seed 0: the table below).
# - In the middle panel, `total` is almost exactly `CE (L_gt)` all the way: in the first
#   epochs because w(e) is near 0, and afterwards because `L_dis1` and `L_dis2` (right
#   panel, their own axis) are tiny (a few hundredths at most, against a summed
#   cross-entropy of 4.6 to 8.0: the table below).
#   The branches share a trunk and learn from each other, and at T = 3 their softened
#   predictions sit close to their targets.
# - On the left, the leader and the peers climb together, and the ensemble is no better
#   than the best branch: the peers have become alike (notebook 02 compares methods on
#   exactly this).

# %%
import pandas as pd

best = history["val_top1_leader"].idxmax()
keys = ["w", "train_ce", "train_dis1", "train_dis2", "val_top1_leader", "val_top1_peer_mean",
        "val_top1_ens", "val_div_l2", "val_att_diag"]
# epochs counted from 0, as in the history, w(e) and every figure of the course
pd.DataFrame({"first epoch (0)": history[keys].iloc[0], "best leader epoch "
              f"({int(history.loc[best, 'epoch'])})": history.loc[best, keys],
              f"final epoch ({int(history['epoch'].iloc[-1])})": history[keys].iloc[-1]}
             ).round(3)

# %% [markdown]
# **What to notice.**
# - `w` is the ramp-up weight of each epoch; the distillation terms are reported unweighted.
# - `val_att_diag` is the mean weight a peer gives itself. In the stored run it grows from
#   0.348 (near 1/m = 0.333) to 0.665: the attention learns to make each peer's
#   target mostly its own prediction, the cheapest way to lower L_dis1. With
#   `mask_diagonal=True` a peer is kept out of its own target (notebook 03); notebook 06
#   follows the diagonal across the ablations.
# - The leader's accuracy is one run and one seed, measured on 1,000 validation images in
#   the quick profile (10,000 in full): a point or two is within noise.
#
# **Scale.** The quick profile trains ResNet-8 on 4,085 CIFAR-10 images for 12 epochs; it
# shows the mechanics, not the paper's numbers. For the paper's setting (CIFAR-100,
# ResNet-32, 300 epochs) published figures for the OKDDip leader span 73.25 % to 74.71 %
# top-1: the paper's 74.35 ± 0.15 % is the best test epoch (the released code's protocol);
# the reproductions (74.0 ± 0.3, 74.1 ± 0.2), the PCL paper's re-run (73.25 ± 0.38) and the
# authors' single rerun (74.71) do not say which epoch. The full profile's 60
# epochs is a shortened schedule and is expected to end below that band; we do not quote a
# number we have not measured.
#
# **Try it**: in the live plot of section 7, click legend entries to hide the branches and
# keep only the leader and the ensemble; then hide everything but `L_dis1` and `L_dis2` on
# the right, to see their own scale.
#
# ## Exercises
#
# Each solution is hidden below its exercise; try first, then open it. All run in seconds
# on the batch of sections 1 to 4 (`out`, `y`, `targets`, `kl_t`). One thing to keep in
# mind: section 6 took an SGD step, which moved the network *and* W_q, W_k. `out` is still
# the output from before that step, but `method` now holds the moved W_q, W_k, so a term
# that goes through the attention (`dis1`) comes out slightly different from section 4's
# print, while `ce` and `dis2`, which do not, come out the same.

# %% [markdown]
# **Exercise 1** (write code): compute the second-level loss L_dis2 by hand a second way,
# with `torch.nn.functional.kl_div` instead of `kl_t`: the teacher is the peer ensemble
# (1/m) Σ_a z_a, the student the leader, both softened at T, the result ×T², averaged over
# the batch.
#
# Expected: the same value as `method(out, y, epoch)["dis2"]` (and as the `dis2` line of
# section 4's check) to within 1e-5.

# %% tags=["solution"]
#@title Solution
with torch.no_grad():
    ensemble = out.logits[:, :m].mean(dim=1)  # (B, C)  the peers' mean logits
    log_student = F.log_softmax(out.logits[:, m] / T, dim=-1)  # (B, C)  the leader
    log_teacher = F.log_softmax(ensemble / T, dim=-1)  # (B, C)
    # kl_div(input=log q, target=log p, log_target=True) sums p (log p - log q)
    L_dis2_mine = T * T * F.kl_div(log_student, log_teacher, reduction="batchmean",
                                   log_target=True)
    L_dis2_lib = method(out, y, epoch)["dis2"]
print(f"L_dis2 with kl_div {L_dis2_mine.item():.5f}   method {L_dis2_lib.item():.5f}")
assert torch.allclose(L_dis2_mine, L_dis2_lib, atol=1e-5)

# %% [markdown]
# **Exercise 2** (write code): which loss trains the attention? Back-propagate each term of
# section 4 on its own (`ce`, `dis1`, `dis2`: recompute them with `method(model(x), y,
# epoch)` for each, so that every backward pass has its own graph) and look at the gradient
# each one leaves on W_q (`att.query.weight.grad`; zero the gradients in between).
#
# Expected: only `dis1` reaches W_q. `ce` compares each branch with the labels and `dis2`
# compares the leader with the plain mean of the peers: neither goes through the attention,
# so W_q's gradient stays `None` for both; `dis1` gives a non-zero gradient, through the
# targets t_a (nothing is detached).

# %% tags=["solution"]
#@title Solution
for name in ("ce", "dis1", "dis2"):
    model.zero_grad(set_to_none=True)
    method.zero_grad(set_to_none=True)
    method(model(x), y, epoch)[name].backward()
    grad = att.query.weight.grad
    print(f"{name:>4}: W_q gradient "
          + ("None" if grad is None else f"norm {grad.norm().item():.2e}"))
model.zero_grad(set_to_none=True)
method.zero_grad(set_to_none=True)

# %% [markdown]
# **Exercise 3**: recompute the terms of section 4 at `epoch = 0` instead of after the
# ramp-up. How much of the distillation survives w(0)?
#
# Expected: `ce`, `dis1` and `dis2` are the same at both epochs (the terms are reported
# unweighted; only `total` weighs them), and `total − ce` = w(0) (L_dis1 + L_dis2), with
# w(0) = e⁻⁵: under 1 % of the distillation enters the loss in the first epoch.

# %% tags=["solution"]
#@title Solution
with torch.no_grad():
    at0, later = method(out, y, 0), method(out, y, epoch)
for name in ("ce", "dis1", "dis2", "total"):
    print(f"{name:>5}: epoch 0 {at0[name].item():.5f}   epoch {epoch} {later[name].item():.5f}")
w0 = method.weight(0)
assert torch.allclose(at0["total"] - at0["ce"], w0 * (at0["dis1"] + at0["dis2"]), atol=1e-6)
print(f"w(0) = {w0:.4f}: {100 * w0:.2f} % of L_dis1 + L_dis2 enters the loss at epoch 0")

# %% [markdown]
# **Exercise 4**: the uniform mean as a first level. Build the method with
# `aggregation="mean"` (`build_method(cfg.replace(aggregation="mean"), C)`), run its
# aggregator on the peers' features and logits of section 3, and compare the three peers'
# targets with each other and with the plain mean of the peers' logits. Then compute its
# `dis1` on the same batch.
#
# Expected: every weight is 1/3, all three targets are the same tensor, (1/m) Σ_b z_b, and
# `dis1` is the sum over the peers of KL_T(mean → z_a): with a mean every peer is pulled
# towards one common target, the situation OKDDip's per-peer attention was designed to
# avoid (notebook 05 measures what it does to the peers' diversity).

# %% tags=["solution"]
#@title Solution
mean_method = build_method(cfg.replace(aggregation="mean"), C).to(nb.device)
with torch.no_grad():
    t_mean, w_mean = mean_method.aggregator(h_peers, z_peers)  # (B, m, C), (B, m, m)
    common = z_peers.mean(dim=1)  # (B, C)
    dis1_mean = sum(kl_t(z_peers[:, a], common, T) for a in range(m))
    dis1_lib = mean_method(out, y, epoch)["dis1"]
assert torch.allclose(w_mean, torch.full_like(w_mean, 1 / m))
assert all(torch.allclose(t_mean[:, a], common, atol=1e-6) for a in range(m))
print(f"weights all 1/{m}: True; the {m} targets equal the peers' mean: True")
print(f"dis1 with a uniform mean: by hand {dis1_mean.item():.5f}   method {dis1_lib.item():.5f}")
assert torch.allclose(dis1_mean, dis1_lib, rtol=1e-4, atol=1e-6)

# %% [markdown]
# **Exercise 5**: build the method with `second_level=False` (the leader learns only from
# the labels) and compute its terms on the same batch. Which term disappears, and what
# does `total` become?
#
# Expected: `dis2` is exactly 0, `ce` and `dis1` are unchanged (same seed, so the same
# W_q, W_k as a freshly built default method), and `total` = `ce` + w(e) · `dis1`. (Both
# `dis1` values differ from section 4's: there the method's W_q, W_k were drawn after the
# network's weights from the same seed, here straight after seeding, so they are other
# random matrices.) (Whether
# the leader ends up less accurate needs full runs over several seeds: the `leader` suite,
# `okddip-edu ablate leader`.)

# %% tags=["solution"]
#@title Solution
torch.manual_seed(nb.seed)
fresh = build_method(cfg, C).to(nb.device)
torch.manual_seed(nb.seed)
no_second = build_method(cfg.replace(second_level=False), C).to(nb.device)
with torch.no_grad():
    on, off = fresh(out, y, epoch), no_second(out, y, epoch)
for name in ("ce", "dis1", "dis2", "total"):
    print(f"{name:>5}: second level on {on[name].item():.5f}   off {off[name].item():.5f}")
assert off["dis2"].item() == 0.0 and torch.allclose(off["dis1"], on["dis1"])
assert torch.allclose(off["total"], off["ce"] + no_second.weight(epoch) * off["dis1"])
