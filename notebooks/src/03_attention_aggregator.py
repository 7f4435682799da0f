# %% [markdown]
# # 03 · The attention aggregator: one target per peer
#
# {{colab_badge}}
#
# OKDDip's first level gives every auxiliary peer **its own** teaching target: a weighted
# mix of all peers' logits, with weights from an attention mechanism over the peers'
# features. Different peers get different targets, which is what keeps them diverse. This
# notebook rebuilds that mechanism step by step on the real features of a trained OKDDip
# group and checks every step against the library.
#
# **What you will learn**
# - the shapes and the formulas: features h (B, m, d), projections W_q and W_k, scores
#   e_ab = q_a · k_b (no 1/√d), the softmax over peers *including the peer itself*, and
#   the targets t_a = Σ_b α_ab z_b;
# - how to read an attention matrix, sample by sample, in the aggregation playground;
# - why the attention only learns because nothing is detached, shown with gradients;
# - the side effect: a peer can lower its loss by attending to itself (α_aa → 1).
#
# **Prerequisites**: [notebook 01](01_soft_targets_and_temperature.ipynb) (softened
# predictions, `kd_loss`), and the idea of dot-product attention.
#
# **Expected run time**: quick profile (laptop CPU, `cifar10-5k`, ResNet-8): about 1.5 min
# (measured: 88 s on a quiet 2-core CPU machine with
# `python tools/build_notebooks.py 03 --execute --profile quick`; 4.6 min on 2 cores shared
# with other jobs); smoke profile (CI): under a minute; full profile (GPU, CIFAR-100,
# ResNet-32, 30 epochs): not measured (no GPU was available).

# %%
# {{install_cell}}

# %%
from okddip_edu import course

nb = course.setup(full_epochs=30)

# %%
import plotly.graph_objects as go
import torch
import torch.nn.functional as F

from okddip_edu import data
from okddip_edu.aggregation import Attention
from okddip_edu.engine import fit
from okddip_edu.losses import kd_loss
from okddip_edu.models import GroupOutput
from okddip_edu.plots import attention as attention_plots
from okddip_edu.widgets import AggregationPlayground

# %% [markdown]
# ## 1. A trained OKDDip group
#
# We train the profile's OKDDip run with `okddip_edu.engine.fit` (quick profile: a
# branch-based ResNet-8 with a shared trunk and n = 4 branches, 12 epochs on `cifar10-5k`).
# Branches 0, 1, 2 are the m = 3 auxiliary peers, branch 3 is the group leader.

# %%
result = fit(nb.config(method="okddip"))
model, method, cfg = result.model, result.method, result.config
m = method.m  # auxiliary peers
att = method.aggregator  # the trained okddip_edu.aggregation.Attention
print(f"{cfg.arch}, {cfg.num_branches} branches: peers {method.peers}, leader {method.leader}")
print(f"leader {result.final['val_top1_leader']:.1f}% | peer ensemble "
      f"{result.final['val_top1_ens']:.1f}% validation top-1 (final epoch)")

# %% [markdown]
# The aggregator only needs two things from the network: every branch's pooled
# penultimate **feature** h (the input of its classifier) and its **logits** z. We collect
# both for the whole validation split, then keep the m peers (the leader neither gives nor
# receives attention).


# %%
@torch.no_grad()
def validation_outputs(run) -> GroupOutput:
    """features (N, n, d), logits (N, n, C) and trunk features of the validation split."""
    s = run.splits
    loader = data.DeviceLoader(s.val_x, s.val_y, 500, s.mean, s.std, device=nb.device,
                               train=False)
    outs = [run.model(x) for x, _ in loader]
    return GroupOutput(*(torch.cat(part).float() for part in zip(*outs)))


out = validation_outputs(result)
h = out.features[:, :m]  # (N, m, d)  features of the peers
z = out.logits[:, :m]  # (N, m, C)  logits of the peers
N, _, d = h.shape
print(f"h: {tuple(h.shape)} = (N, m, d)   z: {tuple(z.shape)} = (N, m, C)")

# %% [markdown]
# ## 2. The first level, step by step
#
# **Step 1: projections.** Two linear maps without bias, shared by all peers, project each
# feature to d/8 dimensions: a *query* (what peer a looks for) and a *key* (what peer b
# offers).
#
# $$q_a = W_q h_a, \qquad k_b = W_k h_b, \qquad W_q, W_k \in \mathbb{R}^{(d/8) \times d}$$

# %%
W_q = att.query.weight.detach()  # (d/8, d)
W_k = att.key.weight.detach()  # (d/8, d)
q = h @ W_q.T  # (N, m, d/8)
k = h @ W_k.T  # (N, m, d/8)
print(f"W_q: {tuple(W_q.shape)}   q: {tuple(q.shape)}   k: {tuple(k.shape)}")

# %% [markdown]
# **Step 2: scores.** A plain dot product between peer a's query and every peer b's key,
# for every sample: an m × m matrix per sample. Unlike a Transformer, OKDDip does **not**
# divide by √(d/8).
#
# $$e_{ab} = q_a \cdot k_b$$

# %%
e = q @ k.transpose(1, 2)  # (N, m, m)   e[i, a, b] = q_a . k_b
print(f"e: {tuple(e.shape)}; scores of validation sample 0:")
print(e[0].cpu().numpy().round(2))
print(f"spread of the scores over the validation set: std {e.std().item():.2f}")

# %% [markdown]
# **Step 3: the softmax over the peers, the peer itself included.** Row a of α holds peer
# a's weights over the m peers; it sums to 1. The diagonal α_aa is how much peer a listens
# to itself.
#
# $$\alpha_{ab} = \frac{\exp(e_{ab})}{\sum_{b'=1}^{m} \exp(e_{ab'})}$$

# %%
alpha = F.softmax(e, dim=-1)  # (N, m, m)   rows sum to 1
attention_plots.attention_heatmap(alpha[0], title="α of validation sample 0").show()

# %% [markdown]
# **Step 4: one target per peer.** Peer a's target is the α-weighted sum of the peers'
# **logits** (not probabilities):
#
# $$t_a = \sum_{b=1}^{m} \alpha_{ab}\, z_b$$
#
# and peer a is then trained with `kd_loss(z_a, t_a, T)` (the first-level loss L_dis1).

# %%
t = alpha @ z  # (N, m, C)   t[i, a] = sum_b alpha[i, a, b] z[i, b]
print(f"targets t: {tuple(t.shape)} = (N, m, C)")

# %% [markdown]
# **Check against the library.** `okddip_edu.aggregation.Attention` is the module the
# training used. Its forward pass on the same features and logits must give the same weights
# and targets. (This cell prints the same text in every profile.)

# %%
# NBVAL_CHECK_OUTPUT
with torch.no_grad():
    t_lib, alpha_lib = att(h, z)
torch.testing.assert_close(alpha_lib, alpha)
torch.testing.assert_close(t_lib, t)
print("type of the aggregator:", type(att).__name__, "| bias:", att.query.bias, att.key.bias)
print("W_q and W_k map d -> d/8:", tuple(W_q.shape) == (d // 8, d) == tuple(W_k.shape))
print("weights by hand == Attention weights:", torch.allclose(alpha, alpha_lib))
print("targets by hand == Attention targets:", torch.allclose(t, t_lib))
print("every row of alpha sums to 1:", torch.allclose(alpha.sum(-1), torch.ones(N, m)))

# %% [markdown]
# **What to notice.** Four lines of tensor code are the whole first level: two matrix
# products, a batched dot product and a softmax. The attention is computed per sample: two
# images of the same class can get different weights.
#
# **Without the 1/√d scaling the attention is sharp.** The same scores divided by √(d/8), as
# a Transformer would do, give flatter rows:

# %%
peak = alpha.max(dim=-1).values.mean().item()
peak_scaled = F.softmax(e / (d // 8) ** 0.5, dim=-1).max(dim=-1).values.mean().item()
print(f"mean largest weight per row: {peak:.3f} unscaled (OKDDip), "
      f"{peak_scaled:.3f} with 1/sqrt(d/8); uniform would be {1 / m:.3f}")

# %% [markdown]
# ## 3. The aggregation playground
#
# Pick a validation sample. Left: its m × m attention matrix. Then, for each peer a, its own
# softened prediction softmax(z_a / T) (orange) beside the softened target softmax(t_a / T)
# it is taught with (blue), at the training temperature T.

# %%
shown = min(N, 200)
playground = AggregationPlayground(alpha[:shown].cpu(), z[:shown].cpu(), t[:shown].cpu(),
                                   labels=result.splits.val_y[:shown],
                                   classes=result.splits.classes, temperature=cfg.temperature)
playground.show()

# %% [markdown]
# **What to notice.**
# - When a row of α is dominated by its diagonal, that peer's target is almost its own
#   prediction: the orange and blue bars coincide and the peer learns little from the
#   group on that image.
# - When a peer puts weight on the others, its target mixes their opinions: on an
#   ambiguous image the target spreads mass over the classes the peers disagree about.
# - Each row differs: this is what "diverse peers" means. With a uniform mean
#   (`aggregation="mean"`) every peer would get the same target.
#
# **Try it**: slide to a sample whose true class the peers get wrong; does any peer attend
# to a peer that is right?

# %% [markdown]
# ## 4. Why nothing is detached: where W_q and W_k get their gradient
#
# W_q and W_k appear in no loss directly: only through the targets t_a inside L_dis1. If the
# targets are detached (a "stop-gradient", as many distillation codes do), W_q and W_k
# receive **no gradient at all** and the attention stays frozen at its random
# initialisation. The released OKDDip code detaches nothing, and so does the library by
# default; `detach=True` is an ablation switch.
#
# We take one real training batch, compute the method's loss with and without `detach`,
# back-propagate, and look at the gradients. (The model is put in evaluation mode so that
# the batch does not change its BatchNorm statistics; gradients flow the same way.)

# %%
s = result.splits
loader = data.DeviceLoader(s.train_x, s.train_y, cfg.batch_size, s.mean, s.std,
                           device=nb.device, train=True, seed=cfg.seed)
x, y = next(iter(loader))
model.eval()
peer1_classifier = model.peers[1].classifier.weight  # a parameter of another peer


def gradients(detach: bool) -> dict:
    method.detach = detach
    model.zero_grad(set_to_none=True)
    method.zero_grad(set_to_none=True)
    output = model(x)
    terms = method(output, y, epoch=cfg.epochs - 1)  # {"ce", "dis1", "dis2", "total"}
    # peer 0's own first-level loss: does it reach peer 1 (through the target t_0)?
    targets, _ = att(output.features[:, :m], output.logits[:, :m])
    dis1_peer0 = kd_loss(output.logits[:, 0], targets[:, 0], cfg.temperature, detach=detach)
    (to_peer1,) = torch.autograd.grad(dis1_peer0, peer1_classifier, retain_graph=True,
                                      allow_unused=True)
    terms["total"].backward()
    return {"W_q": att.query.weight.grad, "W_k": att.key.weight.grad, "to_peer1": to_peer1}


# %%
# NBVAL_CHECK_OUTPUT
for detach in (False, True):
    g = gradients(detach)
    print(f"detach={detach}:")
    for name, param in (("W_q", att.query.weight), ("W_k", att.key.weight)):
        line = f"  {name} grad is None: {g[name] is None}"
        if g[name] is not None:
            line += (f" | same shape as {name}: {g[name].shape == param.shape}"
                     f" | non-zero: {bool(g[name].abs().sum() > 0)}")
        print(line)
    reaches = g["to_peer1"] is not None and bool(g["to_peer1"].abs().sum() > 0)
    print(f"  peer 0's L_dis1 sends a non-zero gradient to peer 1's classifier: {reaches}")
method.detach = False  # back to the default (the released code)

# %% [markdown]
# **What to notice.** Without detach, W_q and W_k get a non-zero gradient, and peer 0's
# distillation loss also pushes on peer 1 (through t_0 = Σ_b α_0b z_b): peers are pulled
# towards each other from both sides. With detach, `.grad` stays `None`: no path from the
# loss to the projections exists, so an optimiser would never change them. (Peer 1 still
# appears in the graph of peer 0's loss, because the branches' logits are stacked into one
# (B, n, C) tensor, but what reaches it is exactly zero.)
#
# The gradient magnitude itself depends on the run (profile, seed, epoch):

# %%
g = gradients(False)
print(f"||grad W_q|| = {g['W_q'].norm().item():.2e}, ||grad W_k|| = {g['W_k'].norm().item():.2e}")
method.detach = False

# %% [markdown]
# ## 5. The side effect: peers that copy themselves
#
# Look at L_dis1 for peer a: KL_T(t_a → z_a). If α_aa = 1, then t_a = z_a and the loss is
# exactly zero. Since the gradient reaches W_q and W_k, the cheapest way to lower L_dis1 is
# to make every peer attend to **itself**. The library logs the mean diagonal of α
# (`val_att_diag`) after every epoch; a value of 1/m means uniform attention, 1 means
# every peer copies itself.

# %%
diag = alpha.diagonal(dim1=1, dim2=2)  # (N, m)   alpha_aa of every sample and peer
print(f"mean alpha_aa over the validation set: {diag.mean().item():.3f} "
      f"(uniform 1/m = {1 / m:.3f})")
print(f"share of (sample, peer) pairs with alpha_aa > 0.9: {(diag > 0.9).float().mean().item():.1%}")
fig = go.Figure([go.Histogram(x=diag[:, a].cpu().numpy(), name=f"peer {a}", xbins=dict(size=0.05),
                              opacity=0.6) for a in range(m)])
fig.update_layout(barmode="overlay", title="α_aa over the validation set, per peer",
                  xaxis_title="α_aa (weight of a peer on itself)", yaxis_title="samples",
                  height=320)
fig.show()

# %%
attention_plots.diagonal_over_epochs(result.history, by=None).show()

# %% [markdown]
# **What to notice.** Compare the diagonal with the uniform line 1/m. In our quick run it
# starts at 1/m (0.34 after the first epoch, while w(e) is still tiny), climbs as soon as the
# ramp-up lets the distillation in, and ends at 0.66: on average each peer's target is
# two-thirds its own prediction, and for about a fifth of the (sample, peer) pairs more than
# 90 %. How far it goes depends on the run (seed, length, scale). The paper's design
# keeps the peer in its own softmax; the library offers `mask_diagonal=True` (α_aa = 0,
# each peer learns only from the others) as an ablation, and [notebook 06](06_ablations.ipynb)
# compares both, as well as `detach=True`, over several seeds.
#
# **Try it**
# - Train `nb.config(method="okddip", mask_diagonal=True)` and rerun the playground: the
#   heatmap's diagonal is 0 and every target is made of the other peers only.
# - Train with `detach=True` and compare `att.query.weight` with a freshly built model of
#   the same seed: it has not moved at all (PyTorch's SGD skips a parameter whose `.grad` is
#   `None`, weight decay included).
# - Build an `Attention(d, factor=8)` by hand, feed it `h` and `z`, and check that its
#   untrained weights are close to uniform or not.
#
# **Honest scale note.** This is a ResNet-8 group trained for a few minutes on 4,085
# CIFAR-10 images; its features (d = 64) and attention after 12 epochs are not those of a
# ResNet-32 after 300 epochs on CIFAR-100, for which the paper reports a leader error of
# 25.65 ± 0.15 % (about 74.3 % top-1; independent re-runs give 73.3 % to 74.7 %; the released
# code reports the best epoch). The formulas, the shapes and the detach behaviour do not
# depend on scale.
#
# **Next**: [notebook 04](04_two_level_training.ipynb) adds the second level (the group
# leader) and the ramp-up, and trains the whole method.
