# %% [markdown]
# # 00 · Start here: train a group of diverse peers in a few minutes
#
# {{colab_badge}}
#
# **OKDDip** (Online Knowledge Distillation with Diverse Peers, Chen et al., AAAI 2020)
# trains a *group* of student networks together, with no pre-trained teacher. Three
# auxiliary **peers** teach each other through an **attention** mechanism (each peer gets
# its own weighted mix of the peers' predictions as a target), and a fourth branch, the
# **group leader**, learns from the average of the peers. Only the leader is kept for
# deployment.
#
# Paper: [arXiv 1912.00350](https://arxiv.org/abs/1912.00350). Released code (PyTorch):
# [DefangChen/OKDDip](https://github.com/DefangChen/OKDDip).
#
# **What you will learn**
# - how to set the course up (locally, on Colab, with conda) and check your device;
# - how one OKDDip run looks from the inside: accuracy of the leader, the peers and their
#   ensemble, and the loss terms, drawn live while it trains;
# - how to read the attention weights the peers give each other;
# - why the group has 3.3 times the parameters of one network but costs only about twice
#   its arithmetic to train;
# - what a few-minute run can and cannot tell you, and where the course goes next.
#
# **Prerequisites**: Python and a first PyTorch course (a training loop, cross-entropy,
# a ResNet). No distillation background is needed.
#
# **Run time** (the notebook picks its profile itself, see below):
#
# | profile | where | its run | time |
# |---|---|---|---|
# | full | a GPU | CIFAR-100, ResNet-32, 20 epochs, trained here | not measured yet (no GPU was available); `tools/paper_costs.py` estimates the FLOPs |
# | quick | a laptop CPU | 4,085 CIFAR-10 images, ResNet-8, 12 epochs: shipped trained, loaded in seconds (`TRAIN_LIVE = True` trains it here) | under a minute; about a minute with `TRAIN_LIVE = True` (53.5 s on 2 cores: the guide's table) |
# | smoke | CI | 256 images, 2 epochs, tiny widths | seconds |
#
# The instructor guide (`notebooks/README.md`) lists the measured times of both modes; the
# last cell prints how long this notebook ran on your machine.

# %% [markdown]
# ## 1. Set-up
#
# Three ways to get a working environment; pick one.
#
# - **Locally (recommended)**: in a clone of the repository run `make lab`. It creates
#   `.venv/` in the repository, installs the package there with pinned versions, and starts
#   JupyterLab on `notebooks/` (the URL is printed). `make test` runs the unit tests and
#   every notebook in the smoke profile.
# - **Colab**: click the badge above. The first code cell installs the release of
#   `okddip_edu` this notebook was written for when it is missing; pip adds only what is
#   missing, so Colab keeps its own PyTorch, ipywidgets and ipykernel. The committed results
#   of notebooks 02, 05 and 06 come with the package. For the full profile choose
#   *Runtime → Change runtime type → GPU*.
# - **conda**: `conda env create -f environment.yml && conda activate okddip-edu && jupyter lab notebooks/`.
#
# **Data.** The full profile downloads CIFAR-100 with torchvision (into `./data`, or the
# folder in `$OKDDIP_DATA`). The quick and smoke profiles use `cifar10-5k`, a fixed subset
# of 5,085 CIFAR-10 training images (the first 1,017 of each of the five training files),
# of which 1,000 are held out for validation. It is read from the `.npz` file named by
# `$OKDDIP_CIFAR10_5K`, or cut from CIFAR-10 when CIFAR-10 is in the data folder; without
# either, download CIFAR-10 once with
# `from okddip_edu import data; data.load_cifar("cifar10", data.data_root())`.

# %%
# {{install_cell}}

# %%
import time

from okddip_edu import course

notebook_start = time.perf_counter()  # the last cell prints how long the notebook ran
nb = course.setup(full_epochs=20)

# %% [markdown]
# `course.setup` chose a **profile**: `full` when a GPU is visible, `quick` on a CPU, and
# `smoke` when the environment variable `OKDDIP_PROFILE=smoke` is set (that is what the
# tests do). Set `OKDDIP_PROFILE` before starting Jupyter to force one. It also seeded
# Python, NumPy and PyTorch, so a rerun draws the same weights and batches.
#
# A quick look at the device and the library versions:

# %%
import platform

import torch

print(f"python {platform.python_version()}, torch {torch.__version__}, "
      f"okddip_edu {okddip_edu.__version__}")
print(f"device: {nb.device}")
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    print(f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB")
else:
    print(f"CPU threads used by torch: {torch.get_num_threads()}")

# %% [markdown]
# ## 2. The group of peers
#
# In the paper's main setting the peers are **branches of one network**: the low-level
# layers (the *trunk*) are shared, and each of the n = 4 branches owns its high-level
# layers and its classifier. Branches 0, 1, 2 are the auxiliary peers; branch 3 is the
# leader. The attention adds two small projection matrices W_q and W_k.
#
# ![The OKDDip group: a shared trunk, three peers and a leader, the attention, and the two distillation levels](../assets/okddip_group.png)
#
# **Reading the figure.** An image x goes once through the **shared trunk** (the stem and
# the first two stages of the ResNet: the low-level layers). Its feature map feeds four
# branches, each with its own third stage and classifier head: three auxiliary **peers**
# (green; numbered 1 to 3 in the figure, branches 0, 1, 2 in the code) and the **group
# leader** (orange; branch 3). Each peer a returns a pooled feature h_a and logits z_a. The
# **attention** (purple) projects the features with W_q and W_k, scores every pair of peers
# by q_a · k_b, and turns the scores of row a into weights α_ab with a softmax, so that peer
# a gets its *own* target t_a = Σ_b α_ab z_b. That is the **first distillation level**: each
# peer learns from its own target (L_dis1, a KL divergence at temperature T). Because the
# targets differ from peer to peer, the peers are not all pulled towards one common average:
# that is how the paper means to keep them diverse (whether it does is the question of
# notebooks 03 and 05). The **second level** is the leader
# learning from the plain mean z̄ of the peers (L_dis2), an ensemble that gains most when
# the peers differ. Every branch also learns the labels (L_gt), the ramp-up w(e) fades both
# distillation terms in, and only the trunk and the leader are kept for deployment.
#
# Here are the parameter counts of the paper's CIFAR-100 ResNet-32 in that layout (nothing
# is trained; this cell is the same on every machine). The released code's numbers are
# 1.554 M for the whole group and 0.473 M for a single network.

# %% tags=["nbval-check-output"]
from okddip_edu import methods, models

group = models.build("resnet32", num_classes=100, branches=4, layout="branch")
okddip = methods.build("okddip", num_classes=100, branches=4,
                       feature_dim=models.backbone("resnet32").feature_dim)
single = models.build("resnet32", num_classes=100, branches=1, layout="single")
count = models.count_parameters
rows = [("shared trunk (stem + stages 1-2)", count(group.trunk))]
rows += [(f"branch {i} ({'leader' if i == 3 else 'peer'}: stage 3 + classifier)",
          count(p)) for i, p in enumerate(group.peers)]
rows += [("attention W_q, W_k (64 -> 8 each)", count(okddip.aggregator)),
         ("whole group", count(group) + count(okddip.aggregator)),
         ("a single ResNet-32, for comparison", count(single))]
print("\n".join(f"{name:<45} {n:>10,}  ({n / 1e6:.3f} M)" for name, n in rows))

# %% [markdown]
# Parameters are one cost; arithmetic is another. `okddip_edu.costs.train_flops_per_image`
# counts the floating-point operations of one training step (forward, loss and backward of
# the whole group) per image, with PyTorch's FLOP counter. Here are both ratios, group
# against a single network, for the paper's configurations (`preset("paper")`: CIFAR-100,
# ResNet-32; `okddip` is built with its branch layout, `baseline` as one network):

# %% tags=["nbval-check-output"]
from okddip_edu.config import preset
from okddip_edu.costs import train_flops_per_image

params_group, params_single = count(group) + count(okddip.aggregator), count(single)
flops_group = train_flops_per_image(preset("paper", method="okddip"))  # 4 branches
flops_single = train_flops_per_image(preset("paper", method="baseline"))  # one ResNet-32
deployed = count(group.trunk) + count(group.peers[3])
print(f"parameters:               group {params_group / 1e6:.3f} M, single "
      f"{params_single / 1e6:.3f} M -> ratio {params_group / params_single:.2f}")
print(f"training FLOPs per image: group {flops_group / 1e9:.3f} G, single "
      f"{flops_single / 1e9:.3f} G -> ratio {flops_group / flops_single:.2f}")
print(f"deployed (trunk + leader): {deployed:,} parameters, "
      f"{deployed / params_single:.2f} x a single ResNet-32")

# %% [markdown]
# **What to notice.** Each branch is larger than the shared trunk: the third stage holds
# most of a ResNet's weights. The group has 3.3 times the parameters of a single network,
# but one training step costs only about 2 times its arithmetic (0.820 against 0.414 GFLOP
# per image). The trunk runs once for all four branches, and it is where most of a single
# network's arithmetic is: a convolution costs its weights times the positions it slides
# over, and the trunk works on the full-size and half-size feature maps, while the third
# stage, with most of the weights, works on maps halved once more (Exercise 1 measures the
# split). Wall time follows the FLOPs only roughly (small layers use a device less well).
# What is deployed, the trunk and the leader's branch, is exactly one ResNet-32. The
# attention itself is tiny: 2 × 64 × 8 = 1,024 weights.

# %% [markdown]
# ## 3. A first OKDDip run, drawn live
#
# `nb.config(method="okddip")` is the profile's run configuration; `fit` trains it and
# calls `on_epoch_end` after every epoch. A class should not wait for the same run on every
# laptop, so the package ships this seed-0 run trained: `pretrained.fit_or_load` loads it
# and replays its epochs through `on_epoch_end` (a second or two), and trains it here only
# when `TRAIN_LIVE = True` or when the package ships no such run (the full profile, or any
# field you change). `LivePlot` redraws the training curves after every epoch:
#
# - **left**: validation top-1 accuracy of the **leader**, the **peer ensemble** (the mean
#   of the three peers' logits) and every branch (dotted; branch 3 is the leader);
# - **middle**: the loss terms averaged over the epoch: `CE (L_gt)` (the cross-entropy of all
#   four branches, summed) and the `total` minimised, L_gt + λ w(e) (L_dis1 + L_dis2), where
#   the ramp-up w(e) grows from e^-5 to 1 and λ = 1 is the distillation weight (the config
#   field `alpha`);
# - **right**, on their own axis because they are several hundred times smaller: `L_dis1`
#   (peers learning from their attention targets) and `L_dis2` (the leader learning from the
#   peer ensemble), before λ w(e) weighs them.

# %%
from okddip_edu import pretrained
from okddip_edu.plots.curves import LivePlot

TRAIN_LIVE = False  # True: train the run here instead of loading the shipped one

cfg = nb.config(method="okddip")
print(f"{cfg.method} on {cfg.dataset}: {cfg.arch} (width {cfg.width}), {cfg.branches} "
      f"branches, {cfg.epochs} epochs, batch {cfg.batch_size}, lr {cfg.lr} ({cfg.schedule}), "
      f"T = {cfg.temperature}, ramp-up L = {cfg.rampup}")
live = LivePlot(title=f"OKDDip, {cfg.arch} on {cfg.dataset}")
result = pretrained.fit_or_load(cfg, train_live=TRAIN_LIVE, on_epoch_end=live)
history = result.history
print(f"{len(result.splits.train_y):,} training images")
print(history[["epoch", "w", "train_ce", "train_dis1", "train_dis2", "train_total"]]
      .round(3).to_string(index=False))
branches = history[[f"val_top1_b{i}" for i in range(cfg.branches)]]  # (epochs, branches)
spread = branches.max(axis=1) - branches.min(axis=1)
print(f"best minus worst branch: at most {spread.max():.1f} points (epoch "
      f"{history['epoch'][spread.idxmax()]}), {spread.iloc[-1]:.1f} at the last epoch")

# %% [markdown]
# **What to notice** (the numbers quoted are those of the shipped run, quick profile,
# seed 0, printed above and in section 4).
# - All four branches climb together and stay within about three points of each other
#   (the last line printed above): they
#   share the trunk and learn from each other, so no branch runs away from the others.
# - The **ensemble** is no better than the best branch here (55.2 % against 54.2 % to
#   55.6 % for the peers at the last epoch, table of section 4), a gap well inside the noise.
#   Averaging helps only when the peers make different mistakes; these peers have become
#   very alike. That loss of diversity is the problem OKDDip is about, and notebooks 02 and
#   05 measure it. At full scale the ensemble does gain: about 2 points over the single
#   branch for OKDDip on CIFAR-100 (23.73 % against 25.76 % error in one published
#   re-implementation, winycg/MCL-OKD).
# - On the right (and in the table printed under the figure), `L_dis1` and `L_dis2` are
#   0.024 or less, next to a cross-entropy that falls from 8.0 to 4.6 (a sum over four
#   branches): at T = 3 the branches' softened predictions are already close to their
#   targets, so `total` is nearly `CE`. In the first epochs the ramp-up w(e) also keeps the
#   distillation almost off (w(0) = e^-5), up to epoch L = `cfg.rampup`.
#
# The figure is an ordinary plotly figure: hover for values, click legend entries to hide
# lines. `live.figure` holds it after training.

# %% [markdown]
# ## 4. The leader against its peers and their ensemble
#
# The headline number of OKDDip is the **leader's** accuracy, because only the leader is
# deployed. Here it is beside each peer and the peer ensemble, at the last epoch and at the
# best epoch of the leader (the released code reports the best epoch, selected on the test
# set; we show both and say which is which). Epochs are counted from 0, as in the history.

# %%
import pandas as pd

best = history["val_top1_leader"].idxmax()
columns = {"leader (branch 3)": "val_top1_leader", "peer 0": "val_top1_b0",
           "peer 1": "val_top1_b1", "peer 2": "val_top1_b2",
           "mean of the peers": "val_top1_peer_mean", "peer ensemble": "val_top1_ens"}
table = pd.DataFrame({
    f"final (epoch {int(history['epoch'].iloc[-1])})":
        [history[c].iloc[-1] for c in columns.values()],
    f"best leader epoch ({int(history.loc[best, 'epoch'])})":
        [history.loc[best, c] for c in columns.values()],
}, index=list(columns)).round(1)
n_val = len(result.splits.val_y)
print(f"validation top-1 accuracy (%) on {n_val} images, 1 seed")
print(f"standard error of one accuracy near 50 % on {n_val} images: "
      f"{100 * (0.5 * 0.5 / n_val) ** 0.5:.1f} points")
table

# %% [markdown]
# **What to notice.** The leader is one branch like the others: its advantage in the paper
# comes from learning from the whole group (the second level, L_dis2) while the peers stay
# diverse. In a short run the differences between the branches are about a point, about
# the size of the noise: 1,000 validation images give a standard error of about 1.6 points
# at 50 % accuracy, and one seed is one draw. Notebook 06 repeats runs over seeds before
# comparing.

# %% [markdown]
# ## 5. A first look at the attention
#
# Each peer a builds its own target t_a = Σ_b α_ab z_b from the peers' logits z_b, with
# weights α_ab from a softmax over dot products of projected features (notebook 03 takes
# this apart). The engine logs the mean attention matrix over the validation images every
# epoch (history columns `val_att_a{i}_b{j}`). Here is the last epoch's:

# %%
from okddip_edu.plots import attention

last = int(history["epoch"].iloc[-1])
weights, _ = attention.attention_at_epoch(history, last)
fig = attention.attention_heatmap(weights, title=f"mean attention α_ab after epoch {last}")
fig.show()
print(f"mean weight a peer gives itself (diagonal): {history['val_att_diag'].iloc[-1]:.3f} "
      f"(uniform: {1 / 3:.3f}); peer by peer: {weights.diagonal().round(3).tolist()}")
print(f"mean row entropy: {history['val_att_entropy'].iloc[-1]:.3f} nats "
      f"(uniform: ln 3 = {torch.log(torch.tensor(3.0)).item():.3f})")

# %% [markdown]
# **What to notice.** Every row sums to 1: row a is how peer a mixes the three peers into
# its target. A row of (1/3, 1/3, 1/3) would be a plain average of the peers. At
# initialisation the weights are close to that (notebook 04; Exercise 3 shows it for five
# peers), but after 12 epochs of the shipped run the **diagonal** holds well over half of the
# weight (0.665 on average, 0.64 to 0.68 peer by peer): each peer's target is mostly *its
# own* prediction. That is a known side effect: a peer lowers its distillation loss most
# cheaply by attending to itself, and the gradient that trains W_q and W_k comes from that
# very loss. The mean over 1,000 images also hides how much the
# weights vary from image to image. Notebook 03 takes the attention apart. The library has
# an option against the self-attention, `mask_diagonal=True` (α_aa = 0: a peer is kept out
# of its own target): notebook 03 explains it and one of its exercises trains with it, and
# the ablations of notebook 06 compare it with the default. Notebook 06 also follows the
# diagonal across its ablations.

# %% [markdown]
# ## 6. An honest note on scale
#
# This run trained ResNet-8 on 4,085 CIFAR-10 images for 12 epochs (the quick profile) on
# a CPU; its accuracy is far below what the same method reaches at full scale, and the
# ranking of the branches in one short run is mostly noise. The paper's setting is
# CIFAR-100, ResNet-32, 300 epochs on 50,000 images. There, published figures for the
# OKDDip leader span **73.25 % to 74.71 % top-1**: the paper's Table 2 gives 25.65 ± 0.15 %
# error (74.35 %), with the released code's protocol, which keeps the best test epoch; the
# other sources (reproductions of 74.0 and 74.1 %, the PCL paper's re-run at 73.25 ± 0.38 %,
# a single rerun by the authors at 74.71 %) do not say which epoch. Every source is listed,
# with its protocol, in `assets/published/published.csv`. Those numbers need a GPU and hours; the full
# profile of this notebook (20 epochs on a GPU) gets you started, not there.
#
# What a small run *can* show: the mechanics (losses, ramp-up, attention, the leader
# learning from the ensemble), and trends that hold within the run. What it cannot show:
# which method wins by a point on CIFAR-100.

# %% [markdown]
# ## 7. Map of the course
#
# | notebook | what it is about |
# |---|---|
# | [01 · Soft targets and temperature](01_soft_targets_and_temperature.ipynb) | softmax with a temperature T, the KL distillation loss, why T² |
# | [02 · Online distillation baselines](02_online_distillation.ipynb) | independent branches, DML, CL-ILR and ONE trained side by side, and why their peers become alike |
# | [03 · The attention aggregator](03_attention_aggregator.ipynb) | q_a · k_b, the softmax over peers, per-peer targets, the diagonal |
# | [04 · Two-level training](04_two_level_training.ipynb) | one OKDDip step by hand (L_gt, L_dis1, L_dis2, w(e)) and a full run |
# | [05 · Diversity](05_diversity.ipynb) | measuring how different the peers are, and what it buys the ensemble |
# | [06 · Ablations](06_ablations.ipynb) | attention vs mean vs gate, the leader, m, T, detach, layout, over seeds |
#
# **Try it**
# - In section 3, set the temperature to 1 or the number of branches to 6 (five peers), run
#   the section again (a few minutes in the quick profile) and compare the attention matrix
#   with the one above. Exercise 3 shows what a fifth peer costs and how its attention starts.
# - On a slow machine, give `LivePlot` the argument `every=3`: it then redraws every third
#   epoch only.
# - Notebook 02 trains a group with no distillation at all (`independent`) beside OKDDip,
#   with the same seed, and compares their ensembles.

# %% [markdown]
# ## Exercises
#
# Each exercise says what you should see (**Expected**); its worked solution is the
# collapsed cell below it (click to expand it). The solutions run in seconds on a CPU and
# train nothing.

# %% [markdown]
# **Exercise 1** (write code): where does the arithmetic go? Section 2 found that the group
# has 3.3 times the parameters of a single ResNet-32 but only 2 times its training FLOPs.
# Count the **forward** FLOPs per image of the shared trunk and of one branch of the `group`
# built in section 2, with `torch.utils.flop_counter.FlopCounterMode` on one random
# 32 × 32 image (feed the trunk's output to `group.peers[0]`), and set them beside their
# parameter counts (`models.count_parameters`).
#
# Expected: the trunk holds 24 % of a single network's parameters but does 67 % of its
# forward FLOPs (93.2 of 138.3 MFLOP per image; a branch does 45.1 MFLOP with 360,164
# parameters). One trunk with four branches then costs 1.98 times the forward arithmetic of
# one network with 3.29 times its parameters: the two ratios of section 2.

# %% tags=["solution"]
#@title Solution
from torch.utils.flop_counter import FlopCounterMode


def forward_flops(module, x):
    """FLOPs of one forward pass of ``module`` on ``x``, and its output."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = module(x)
    return counter.get_total_flops(), out


group.eval()
image = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # (1, 3, 32, 32)
f_trunk, fmap = forward_flops(group.trunk, image)  # fmap: (1, 32, 16, 16)
f_branch, _ = forward_flops(group.peers[0], fmap)
p_trunk, p_branch = count(group.trunk), count(group.peers[0])
print(f"trunk:  {f_trunk / 1e6:6.1f} MFLOP, {p_trunk:>9,} parameters, "
      f"output {tuple(fmap.shape[1:])}")
print(f"branch: {f_branch / 1e6:6.1f} MFLOP, {p_branch:>9,} parameters")
print(f"single network: {(f_trunk + f_branch) / 1e6:.1f} MFLOP; the trunk's share: "
      f"{f_trunk / (f_trunk + f_branch):.0%} of the FLOPs, "
      f"{p_trunk / (p_trunk + p_branch):.0%} of the parameters")
print(f"group / single: forward FLOPs {(f_trunk + 4 * f_branch) / (f_trunk + f_branch):.2f}, "
      f"parameters {(p_trunk + 4 * p_branch) / (p_trunk + p_branch):.2f}")
assert f_trunk > f_branch and p_trunk < p_branch

# %% [markdown]
# **Exercise 2**: the ramp-up. Section 3 says the distillation is almost off in the first
# epochs. Use `okddip_edu.losses.ramp_up` to compute w(e) for the epochs of the run of
# section 3 (its ramp-up length L is `cfg.rampup`), check the values against the formula
# w(e) = exp(−5 (1 − min(e, L)/L)²) and against the weight the run logged (`history["w"]`,
# which is λ w(e) with λ = `cfg.alpha`), and find the first epoch with at least half the weight.
#
# Expected: w(0) = e^−5 ≈ 0.0067 and w(e) = 1 from e = L on, the same values the run logged.
# In the quick profile (L = 4) the epochs 0 to 4 get 0.0067, 0.0601, 0.2865, 0.7316 and 1,
# so epoch 3 is the first with at least half the weight.

# %% tags=["solution"]
#@title Solution
import math

from okddip_edu.losses import ramp_up

L = cfg.rampup
epochs = history["epoch"].astype(int).tolist()
w = [ramp_up(e, L) for e in epochs]
formula = [math.exp(-5 * (1 - min(e, L) / L) ** 2) for e in epochs]
assert all(abs(a - b) < 1e-12 for a, b in zip(w, formula))
assert all(abs(a * cfg.alpha - b) < 1e-9 for a, b in zip(w, history["w"]))
print(f"ramp-up length L = {L} epochs")
print("w(e):", ", ".join(f"{e}: {x:.4f}" for e, x in zip(epochs, w)))
print("first epoch with w(e) >= 0.5:", next(e for e, x in zip(epochs, w) if x >= 0.5))

# %% [markdown]
# **Exercise 3**: a bigger group. With `branches=6`, OKDDip has five peers and a leader.
# For the paper's configuration, `preset("paper", method="okddip", branches=6)`, count the
# parameters (build it with `okddip_edu.factory.build(cfg, 100)`, which returns the model
# and the method, and count both) and the training FLOPs per image
# (`train_flops_per_image`), and compare them with the four-branch group of section 2.
# Then run the untrained group once on a batch of 64 random images
# (`method(model(x), y, cfg.rampup, x=x)`) and look at the attention the peers start from
# (`method.aggregator.attn`, shape (B, m, m)).
#
# Expected: 2,274,600 parameters (4.81 times a single ResNet-32) and 1.090 GFLOP per image
# (2.63 times): each extra branch adds 360,164 parameters and about 0.135 GFLOP, while the
# attention keeps its 1,024 weights. The untrained attention is a 5 × 5 matrix whose rows sum
# to 1 and whose entries all lie close to the uniform 1/5 = 0.2: before training, every
# peer's target is close to the plain average of the peers.

# %% tags=["solution"]
#@title Solution
from okddip_edu.factory import build

torch.manual_seed(0)
big = preset("paper", method="okddip", branches=6)
model6, method6 = build(big, 100)
params6 = count(model6) + count(method6)
flops6 = train_flops_per_image(big)
print(f"6 branches: {params6:,} parameters ({params6 / params_single:.2f} x single), "
      f"{flops6 / 1e9:.3f} GFLOP per image ({flops6 / flops_single:.2f} x single)")
print(f"per extra branch: {(params6 - params_group) / 2:,.0f} parameters, "
      f"{(flops6 - flops_group) / 2 / 1e9:.3f} GFLOP; attention: "
      f"{count(method6.aggregator):,} weights")
x = torch.randn(64, 3, 32, 32)  # (B, 3, 32, 32)
y = torch.randint(0, 100, (64,))  # (B,)
with torch.no_grad():
    method6(model6(x), y, big.rampup, x=x)
start = method6.aggregator.attn.mean(dim=0)  # (m, m), mean over the batch
print(f"attention before training, mean over the batch ({tuple(start.shape)}):")
print(start.numpy().round(3))
print(f"entries between {start.min().item():.3f} and {start.max().item():.3f}; "
      f"uniform: {1 / 5:.3f}")
assert torch.allclose(start.sum(dim=-1), torch.ones(5), atol=1e-5)

# %% [markdown]
# ---
# How long this notebook ran, from the set-up cell to here (the exercises included):

# %%
print(f"notebook run time: {(time.perf_counter() - notebook_start) / 60:.1f} min "
      f"({nb.profile} profile, {nb.device}, {torch.get_num_threads()} torch thread(s))")
