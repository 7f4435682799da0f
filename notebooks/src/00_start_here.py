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
# **What you will learn**
# - how to set the course up (locally, on Colab, with conda) and check your device;
# - how one OKDDip run looks from the inside: accuracy of the leader, the peers and their
#   ensemble, and the loss terms, drawn live while it trains;
# - how to read the attention weights the peers give each other;
# - what a few-minute run can and cannot tell you, and where the course goes next.
#
# **Prerequisites**: Python and a first PyTorch course (a training loop, cross-entropy,
# a ResNet). No distillation background is needed.
#
# **Run time** (the notebook picks its profile itself, see below):
#
# | profile | where | what it trains | time |
# |---|---|---|---|
# | full | a GPU | CIFAR-100, ResNet-32, 20 epochs | not measured yet (no GPU was available); `tools/paper_costs.py` estimates the FLOPs |
# | quick | a laptop CPU | 4,085 CIFAR-10 images, ResNet-8, 12 epochs | 1.4 min for the whole notebook, 1.2 min of it training, on a quiet 2-core CPU machine (fp32) |
# | smoke | CI | 256 images, 2 epochs, tiny widths | seconds |
#
# (Quick time measured with `python tools/build_notebooks.py 00 --execute --profile quick`; a
# machine busy with other work takes several times as long.)

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
from okddip_edu import course

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
# Here are the parameter counts of the paper's CIFAR-100 ResNet-32 in that layout (nothing
# is trained; this cell is the same on every machine). The released code's numbers are
# 1.554 M for the whole group and 0.473 M for a single network.

# %%
# NBVAL_CHECK_OUTPUT
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
# **What to notice.** Each branch is larger than the shared trunk: the third stage holds
# most of a ResNet's weights. The group costs about 3.3 times a single network to train,
# but only the trunk and the leader's branch (about one ResNet-32) are deployed. The
# attention itself is tiny: 2 × 64 × 8 = 1,024 weights.

# %% [markdown]
# ## 3. A first OKDDip run, drawn live
#
# `nb.config(method="okddip")` is the profile's run configuration; `fit` trains it and
# calls `on_epoch_end` after every epoch. `LivePlot` redraws the training curves there:
#
# - **left**: validation top-1 accuracy of the **leader**, the **peer ensemble** (the mean
#   of the three peers' logits) and every branch (dotted; branch 3 is the leader);
# - **right**: the loss terms averaged over the epoch: `CE (L_gt)` (the cross-entropy of all
#   four branches, summed), `L_dis1` (peers learning from their attention targets),
#   `L_dis2` (the leader learning from the peer ensemble) and the `total` minimised,
#   L_gt + w(e) (L_dis1 + L_dis2), where the ramp-up w(e) grows from e^-5 to 1.

# %%
from okddip_edu.engine import fit
from okddip_edu.plots.curves import LivePlot

cfg = nb.config(method="okddip")
print(f"{cfg.method} on {cfg.dataset}: {cfg.arch} (width {cfg.width}), {cfg.branches} "
      f"branches, {cfg.epochs} epochs, batch {cfg.batch_size}, lr {cfg.lr} ({cfg.schedule}), "
      f"T = {cfg.temperature}, ramp-up L = {cfg.rampup}")
live = LivePlot(title=f"OKDDip, {cfg.arch} on {cfg.dataset}")
result = fit(cfg, on_epoch_end=live)
history = result.history
print(f"trained in {history['epoch_time'].sum() / 60:.1f} min")

# %% [markdown]
# **What to notice** (the numbers quoted are those of the run stored with this notebook,
# quick profile, seed 0).
# - All four branches climb together and stay within a point or two of each other: they
#   share the trunk and learn from each other, so no branch runs away from the others.
# - The **ensemble** is *not* better than the best branch here (51.6 % against 50.9 %
#   to 51.9 % for the peers at the last epoch). Averaging helps only when the peers make
#   different mistakes; these peers have become very alike. That loss of diversity is the
#   problem OKDDip is about, and notebooks 02 and 05 measure it. At full scale the
#   ensemble does gain: about 2 points over the single branch for OKDDip on CIFAR-100
#   (23.73 % against 25.76 % error in one published re-implementation, winycg/MCL-OKD).
# - On the right, `L_dis1` and `L_dis2` are hundredths, next to a cross-entropy of 5 to 8
#   (a sum over four branches): at T = 3 the branches' softened predictions are already
#   close to their targets, so `total` is nearly `CE`. In the first epochs the ramp-up
#   w(e) also keeps the distillation almost off (w(0) = e^-5), up to epoch L = `cfg.rampup`.
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
print(f"validation top-1 accuracy (%) on {len(result.splits.val_y)} images, 1 seed")
table

# %% [markdown]
# **What to notice.** The leader is one branch like the others: its advantage in the paper
# comes from learning from the whole group (the second level, L_dis2) while the peers stay
# diverse. In a short run the differences between the branches are a point or two, about
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
      f"(uniform: {1 / 3:.3f})")
print(f"mean row entropy: {history['val_att_entropy'].iloc[-1]:.3f} nats "
      f"(uniform: ln 3 = {torch.log(torch.tensor(3.0)).item():.3f})")

# %% [markdown]
# **What to notice.** Every row sums to 1: row a is how peer a mixes the three peers into
# its target. A row of (1/3, 1/3, 1/3) would be a plain average of the peers. At
# initialisation the weights are close to that (notebook 04), but after 12 epochs of the
# stored run the **diagonal** holds about two thirds of the weight (0.64 to 0.70): each
# peer's target is mostly *its own* prediction. That is a known side effect: a peer lowers
# its distillation loss most cheaply by attending to itself, and the gradient that trains
# W_q and W_k comes from that very loss. The mean over 1,000 images also hides how much the
# weights vary from image to image. Notebook 03 takes the attention apart (and shows
# `mask_diagonal=True`, which keeps a peer out of its own target); notebook 06 follows the
# diagonal across the ablations.

# %% [markdown]
# ## 6. An honest note on scale
#
# This run trained ResNet-8 on 4,085 CIFAR-10 images for 12 epochs (the quick profile) on
# a CPU; its accuracy is far below what the same method reaches at full scale, and the
# ranking of the branches in one short run is mostly noise. The paper's setting is
# CIFAR-100, ResNet-32, 300 epochs on 50,000 images. There, the OKDDip leader reaches
# about **73.3 % to 74.7 % top-1** across published sources (paper Table 2: 25.65 ± 0.15 %
# error, i.e. 74.35 %; independent re-runs 73.25 ± 0.38 % and about 74.0-74.2 %; the
# paper's protocol reports the best epoch). Those numbers need a GPU and hours; the full
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
# - Rerun section 3 with `nb.config(method="okddip", temperature=1.0)` or
#   `nb.config(method="okddip", branches=6)` (5 peers) and compare the attention matrix.
# - Pass `LivePlot(every=3)` to redraw less often on a slow machine.
# - Train `nb.config(method="independent")` (no distillation at all) with the same seed and
#   compare its ensemble with OKDDip's: notebook 02 does this for every method.
