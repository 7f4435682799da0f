# %% [markdown]
# # 05 · Diversity: how different are the peers, and what does it buy?
#
# {{colab_badge}}
#
# The paper's argument in one sentence: with simple aggregation (a mean of the peers, a
# gate) online-distillation peers *become alike quickly*, and an ensemble of look-alikes
# gains nothing; OKDDip's per-peer attention targets keep them diverse. This notebook
# measures that claim over the epochs of five methods.
#
# **What you will learn**
# - five ways to measure the diversity of a group of peers, with their formulas, as
#   `okddip_edu.metrics` computes them after every epoch;
# - how diversity evolves over training for independent branches, DML, CL-ILR, ONE and
#   OKDDip, and how it relates to the gain of the peer ensemble;
# - how OKDDip's attention evolves over the epochs, and how much each peer ends up
#   attending to itself.
#
# **Prerequisites**: [notebook 02](02_online_distillation.ipynb) (the methods compared
# here) and [notebook 03](03_attention_aggregator.ipynb) (the attention weights).
#
# **Expected run time**: with the pre-computed runs in `assets/results/`, under a minute in
# every profile except smoke. Without them it stops and says how to make them; with
# `TRAIN_HERE = True` it trains five short runs itself: quick profile (laptop CPU, 5 epochs
# on 2,000 `cifar10-5k` images each): about 7 min (measured: 7.4 min on 2 CPU cores shared
# with other jobs); smoke profile (CI, always trains tiny runs): under
# a minute; full profile (GPU, CIFAR-100, ResNet-32, 20 epochs each): not measured (no GPU
# was available).

# %%
# {{install_cell}}

# %%
from okddip_edu import course

nb = course.setup(full_epochs=20)

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from okddip_edu.config import DEFAULT_LAYOUT
from okddip_edu.engine import fit
from okddip_edu.metrics import pairwise_diversity
from okddip_edu.plots import attention as attention_plots
from okddip_edu.plots import curves
from okddip_edu.widgets import AttentionOverEpochs, DiversityExplorer

# %% [markdown]
# ## 1. Five measures of diversity
#
# Take the m peers of a group (OKDDip: the m auxiliary peers, not the leader; the other
# methods: all their branches) and their probabilities p_a = softmax(z_a) at T = 1 on a
# validation image. Over the P = m(m−1)/2 pairs of peers a < b, and then averaged over the
# validation images, `okddip_edu.metrics` computes:
#
# | measure | formula (one image) | range | reads as |
# |---|---|---|---|
# | `div_l2` | $\frac{1}{P}\sum_{a<b} \lVert p_a - p_b \rVert_2$ | 0 to √2 | the released code's statistic: distance between predicted distributions |
# | `div_disagree` | $\frac{1}{P}\sum_{a<b} \mathbb{1}[\arg\max p_a \ne \arg\max p_b]$ | 0 to 1 | how often two peers vote differently |
# | `div_kl` | $\frac{1}{P}\sum_{a<b} \tfrac12\big(\mathrm{KL}(p_a\Vert p_b) + \mathrm{KL}(p_b\Vert p_a)\big)$ | 0 to ∞ | mean KL over ordered pairs; sensitive to confident disagreements |
# | `div_js` | $\frac{1}{P}\sum_{a<b} \tfrac12\mathrm{KL}(p_a\Vert M_{ab}) + \tfrac12\mathrm{KL}(p_b\Vert M_{ab})$, $M_{ab} = \tfrac12(p_a+p_b)$ | 0 to log 2 | symmetric and bounded |
# | `ens_gain` | top-1 of the mean of the peers' logits − mean top-1 of the peers | points | what the diversity buys the ensemble |
#
# (The released code divides its L2 sum by 3, i.e. assumes three peers; the library divides
# by the number of pairs.) A check on three hand-made peers over C = 3 classes: identical
# peers, then one peer that disagrees.

# %% tags=["nbval-check-output"]
same = torch.tensor([[[0.7, 0.2, 0.1]] * 3])  # (B=1, m=3, C=3): three identical peers
odd = torch.tensor([[[0.7, 0.2, 0.1], [0.7, 0.2, 0.1], [0.1, 0.2, 0.7]]])  # peer 2 disagrees
for name, probs in (("identical", same), ("one differs", odd)):
    stats = {k: round(v.item(), 4) for k, v in pairwise_diversity(probs).items()}
    print(f"{name:12s}", stats)

# %% [markdown]
# **What to notice.** Identical peers score 0 on every measure. When one of three peers
# disagrees, 2 of the 3 pairs differ: `div_disagree` = 2/3, and `div_l2` is 2/3 of the
# distance between the two distinct distributions (0.6·√2 ≈ 0.849, times 2/3 ≈ 0.566).

# %% [markdown]
# ## 2. Runs of five methods
#
# The comparison suite of the course (`okddip-edu ablate methods --preset quick`) trains
# every method for 12 epochs on `cifar10-5k` with a ResNet-8 backbone, 3 seeds each, and
# logs every measure after every epoch into `histories.csv`, committed in `assets/results/`
# and carried by the installed package (so Colab finds it too). We load it. The smoke
# profile (the tests) always trains one short run of each method here instead, with the
# same `fit` the suite uses. Where no results are found the cell stops and says how to make
# them, unless you set `TRAIN_HERE = True` (quick profile: 5 epochs on 2,000 of the training
# images, one seed; expect noisier and less separated curves than the suite's).

# %%
METHODS = ["independent", "dml", "cl-ilr", "one", "okddip"]
TRAIN_HERE = False  # True: train one short run of each method when no results are found

from okddip_edu import report, resources


def load_histories(folder: Path) -> pd.DataFrame:
    h = pd.read_csv(folder / "histories.csv")
    return h[(h["suite"] == "methods") & h["variant"].isin(METHODS)].reset_index(drop=True)


def train_histories(epochs: int | None, train_subset: int | None) -> pd.DataFrame:
    frames, splits = [], None
    for name in METHODS:
        run = fit(nb.config(method=name, epochs=epochs, train_subset=train_subset),
                  splits=splits)
        splits = run.splits  # load the data once
        frames.append(run.history.assign(suite="methods", variant=name, seed=nb.seed))
    return pd.concat(frames, ignore_index=True)


folder = report.find_results() if nb.profile != "smoke" else None
histories = load_histories(folder) if folder else pd.DataFrame(columns=["variant"])
missing = sorted(set(METHODS) - set(histories["variant"]))
if missing and nb.profile != "smoke" and not TRAIN_HERE:
    raise course.no_results("methods", "TRAIN_HERE")
if missing:
    print("smoke profile: always train" if nb.profile == "smoke" else
          f"no runs of {missing} in the results -> training one short run of each method here")
    # quick: 5 epochs on 2,000 training images per method (about 1.5 min each on a laptop CPU)
    histories = train_histories(epochs=nb.pick(full=None, quick=5, smoke=None),
                                train_subset=nb.pick(full=None, quick=2000, smoke=None))
    source = "trained in this notebook (1 seed)"
else:
    source = (f"{resources.display_path(folder)}/histories.csv (suite 'methods', "
              f"{histories['seed'].nunique()} seeds)")
epochs = int(histories["epoch"].max()) + 1
print(f"histories: {source}; {len(histories)} rows, {epochs} epochs, methods {METHODS}")

# %% [markdown]
# ## 3. The last epoch, side by side
#
# Mean over seeds at the last epoch. `top1_leader` is the deployed network (OKDDip: the
# group leader; methods without a leader: the mean single-branch accuracy), `top1_ens` the
# peer ensemble (mean of the peers' logits). `layout` is how each method builds its group
# in the paper's setting: branches on one shared trunk, or n separate networks (DML).

# %%
last = histories[histories["epoch"] == histories["epoch"].max()]
columns = ["val_top1_leader", "val_top1_ens", "val_ens_gain", "val_div_l2",
           "val_div_disagree", "val_div_js", "val_div_kl"]
table = last.groupby("variant")[columns].mean().reindex(METHODS)
table.columns = [c.removeprefix("val_") for c in columns]
table.insert(0, "layout", [DEFAULT_LAYOUT[name] for name in table.index])
table.round(3)

# %% [markdown]
# ## 4. Diversity over the epochs
#
# Choose a method (highlighted), a measure and an epoch. Left: the measure after every
# epoch (band: mean ± one std over seeds, when there are several); right: every
# method at the chosen epoch.

# %%
explorer = DiversityExplorer(histories, methods=METHODS)
explorer.show()

# %% [markdown]
# The same story in numbers: `div_l2` after the first epoch, at its highest (and when), and
# after the last, with the change from first to last and the ensemble gain at the end, most
# diverse group first.

# %%
first, final = histories["epoch"].min(), histories["epoch"].max()
per_epoch = histories.groupby(["variant", "epoch"])[["val_div_l2", "val_ens_gain"]].mean()
change = {}
for name in table.sort_values("div_l2", ascending=False).index:
    curve = per_epoch.loc[name, "val_div_l2"]  # mean over seeds, one value per epoch
    change[name] = curve.loc[final] - curve.loc[first]
    print(f"{name:12s} {DEFAULT_LAYOUT[name]:8s} div_l2 {curve.loc[first]:.3f} -> highest "
          f"{curve.max():.3f} (epoch {curve.idxmax()}) -> {curve.loc[final]:.3f}, change "
          f"{change[name]:+.3f}   ens_gain at the end "
          f"{per_epoch.loc[(name, final), 'val_ens_gain']:+.2f} points")
print(f"largest fall from first to last epoch: {min(change, key=change.get)}; "
      f"smallest change: {min(change, key=lambda k: abs(change[k]))}")

# %% [markdown]
# **What to notice** (look at `div_l2` first, then switch measures):
# - **Layout comes first.** DML trains n *separate networks* (as in its paper); the other
#   four methods put their branches on one shared trunk. In our runs the separate networks
#   are the most diverse group (printed above), although DML pulls every network towards
#   the mean of the others: networks that share nothing but the data disagree more than branches
#   that share their low-level features. Compare diversity within one layout.
# - **Over these 12 epochs, distillation pulls peers together.** In the committed quick runs
#   (printed above) every group ends less diverse than after its first epoch, but by very
#   different amounts. The largest fall is ONE's (0.088 to 0.053): one gated teacher for all
#   branches pulls them towards the same target. Independent branches, which never distil,
#   and OKDDip change least (−0.008 and −0.009: a tie at this scale). DML has no ramp-up
#   (its distillation weighs 1 from epoch 0, notebook 02) and behaves differently again:
#   its separate networks first grow apart, up to 0.152 at epoch 6, and only then come
#   together (0.098 at the end). Section 6 shows that
#   this is not a law of training: over 60 epochs at the course scale most groups grow more
#   diverse again as they fit their training images (CL-ILR's do not).
# - **At this scale the branch-based methods end close together.** The paper's argument
#   is that mean-based targets (CL-ILR, ONE's single gated teacher) homogenise the peers
#   over a long training, and that OKDDip's individual targets resist it. A 12-epoch run on
#   4,085 images is too short to separate independent branches, CL-ILR, ONE and OKDDip
#   clearly: read the printed numbers, and the mean ± std bands over seeds, before
#   concluding anything, and do not read a difference smaller than the band.
# - **Diversity is what the ensemble feeds on**: a group whose peers agree on everything
#   has an ensemble gain of zero. The measures mostly agree on the ranking of the methods;
#   `div_kl` weights confident disagreements most, `div_disagree` counts only top-1 votes.
#
# A static, paper-style view: does a more diverse group have a larger ensemble gain? One
# point per run (method and seed) at the last epoch.

# %%
sns.set_theme(style="whitegrid", context="notebook")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
sns.lineplot(data=histories, x="epoch", y="val_div_l2", hue="variant", hue_order=METHODS,
             errorbar="sd", ax=axes[0])
axes[0].set(title=f"div_l2 over epochs (mean ± std over {histories['seed'].nunique()} seeds)",
            ylabel="div_l2", xlabel="epoch (from 0)")
sns.scatterplot(data=last, x="val_div_l2", y="val_ens_gain", hue="variant", hue_order=METHODS,
                s=70, ax=axes[1], legend=False)
axes[1].set(title="last epoch: diversity vs ensemble gain", xlabel="div_l2",
            ylabel="ens_gain (points)")
plt.tight_layout()
plt.show()

# %% [markdown]
# **What to notice.** At this scale every ensemble gain is within about a point of zero.
# Only DML's separate networks, far the most diverse, gain measurably more than branches
# on a trunk (notebook 02, exercise 2: +0.75 points over independent branches, more than
# two standard errors); among the branch-based groups the scatter shows no "more diverse,
# larger gain" trend. At full scale the gain is clear: in the winycg/MCL-OKD re-runs
# (ResNet-32, CIFAR-100) the ensemble of the peers is 1.4 to 2.0 points better than one of
# its own members (the leader, for OKDDip) for DML, CL-ILR, ONE and OKDDip.
#
# **Honest scale note.** A few epochs of a ResNet-8 on 4,085 CIFAR-10 images are the very
# beginning of a training curve: the leaders end near 53 to 55 % (the table of section 3),
# the peers are far from agreeing on everything, and one seed's numbers move by a point or
# two (a run trained here with `TRAIN_HERE`, 5 epochs, ends lower still). At full scale
# (ResNet-32, CIFAR-100, 300 epochs) the paper reports OKDDip's leader at 25.65 ± 0.15 %
# error (74.35 % top-1, the best test epoch; other published figures span 73.25 % to
# 74.71 % without saying which epoch), and one re-run table (winycg/MCL-OKD,
# cosine-restart schedule) puts DML, CL-ILR, ONE and OKDDip between 74.2 % and 75.1 %,
# against 71.1 % for a single network. What carries over from these short runs is the
# mechanism you can see (distillation pulls peers together; the layout matters); whether
# OKDDip's distinct targets keep the peers more diverse over a long training, runs this
# short cannot tell: section 6 looks at 60 epochs.

# %% [markdown]
# ## 5. OKDDip's attention over the epochs
#
# Every epoch the library also logs OKDDip's mean attention matrix over the validation
# set (columns `val_att_a{i}_b{j}`) and its mean diagonal `val_att_diag`. Slide through the
# epochs: left, the mean m × m matrix at that epoch (averaged over seeds); right, the mean
# diagonal after every epoch, one line per seed, with the uniform value 1/m dotted.

# %%
okddip = histories[histories["variant"] == "okddip"]
attention_app = AttentionOverEpochs(okddip)
attention_app.show()
m = attention_plots.attention_matrix(okddip.iloc[-1]).shape[0]  # peers
diag = okddip.groupby("epoch")["val_att_diag"].mean()
print(f"mean diagonal: {diag.iloc[0]:.2f} after epoch {diag.index[0]}, {diag.iloc[-1]:.2f} after "
      f"epoch {diag.index[-1]} (uniform 1/m = {1 / m:.2f} with m = {m} peers)")

# %% [markdown]
# **What to notice.** After the first epoch the attention is still close to uniform (the
# distillation weight w(0) is 0.007, so W_q and W_k have hardly been trained). The diagonal
# grows only once the ramp-up has let the distillation in: the peers learn to attend to
# themselves, the "self-copying" side effect of [notebook 03](03_attention_aggregator.ipynb),
# since t_a = z_a makes a peer's first-level loss zero. In the committed 12-epoch quick runs
# it climbs from 0.34 to 0.67 (printed above). The 5-epoch runs this notebook trains when
# no stored results are found reach full distillation weight only in their last epoch
# (ramp-up L = 4), so expect a diagonal that has barely started to move there. The mean
# row entropy of α tells the same story from another side (log 3 ≈ 1.10 is uniform, 0 is
# one peer only):

# %%
curves.metric_curves(okddip, "val_att_entropy", color="variant").show()

# %% [markdown]
# ## 6. At the course scale: 2,000 images, 60 epochs
#
# The `course` preset trains ResNet-8 on 2,000 images for 60 epochs
# (`assets/results-course/PROVENANCE.md`): five times longer than the quick runs, on half
# the images. Its committed results hold every method of section 2 over 5 seeds: do
# OKDDip's individual targets keep the peers more diverse than the other methods' targets,
# or than no distillation at all, once the training is long? First the last epoch, then how
# diversity moves over the 60 epochs.

# %%
course_dir = report.find_results(name="results-course") if nb.profile != "smoke" else None
if course_dir is not None:
    course_res = pd.read_csv(course_dir / "results.csv")
    course_res = course_res[course_res["suite"] == "methods"]
    cols = ["div_l2", "div_disagree", "ens_gain", "att_diag"]
    print(course_res[course_res["variant"].isin(METHODS)]
          .groupby("variant")[cols].agg(["mean", "std", "count"]).round(3).to_string())
    for other in ("independent", "cl-ilr", "one", "dml"):
        for col in ("div_l2", "ens_gain"):
            try:
                print(report.describe_difference(
                    report.difference(course_res, "methods", "okddip", other, col)))
            except ValueError as err:  # that method not run at this scale
                print(f"okddip vs {other}: {err}")
    course_hist = pd.read_csv(course_dir / "histories.csv").query("suite == 'methods'")
    for name, h in course_hist.groupby("variant"):
        curve = h.groupby("epoch")["val_div_l2"].mean()  # mean over seeds
        if curve.notna().any():
            print(f"{name:12s} div_l2 over the epochs: {curve.iloc[0]:.3f} after epoch 0, "
                  f"lowest {curve.min():.3f} (epoch {curve.idxmin()}), highest "
                  f"{curve.max():.3f} (epoch {curve.idxmax()}), "
                  f"{curve.iloc[-1]:.3f} after epoch {curve.index[-1]}")
else:
    print("no course results here (committed in assets/results-course; the smoke profile "
          "skips them)")

# %% [markdown]
# **What to notice** (course results, printed above: 5 seeds, final epoch).
# - Over the 60 epochs (the last lines printed) the groups part ways. Independent branches
#   and OKDDip first lose diversity, to their lowest within the first few epochs, then grow
#   more diverse again as they fit their training images, ending above where they started
#   (independent branches) or about there (OKDDip). ONE recovers part of its early fall;
#   CL-ILR, whose branches all learn from the mean of the others, falls and stays low;
#   DML's separate networks grow apart for the first third of the training (0.113 to 0.199
#   at epoch 22), then come partway back (0.143). The 12 quick epochs of section 4 stop in
#   the first phase.
# - After 60 epochs OKDDip's peers are *more* diverse than those of the two branch-based
#   methods with a shared target (div_l2 0.088 against 0.061 for CL-ILR and 0.080 for ONE,
#   each more than two standard errors): the paper's diversity claim, held at this scale.
#   But they are *less* diverse than independent branches (0.099, about five standard
#   errors), which never distil, and far less than DML's separate networks (0.143): its
#   individual targets slow the homogenisation (notebook 06 shows the uniform mean ending
#   at 0.069) but do not stop it.
# - The attention has collapsed onto the peers themselves: `att_diag` 0.913, each target
#   about nine tenths the peer's own logits. That self-weight is what keeps OKDDip's peers
#   apart from one another: with the targets detached the diagonal stays near 1/3 and the
#   diversity falls to 0.067, where the uniform mean ends (0.069; notebook 06, sections 5
#   and 9).
# - OKDDip's ensemble gain (0.17 points) cannot be told from those of independent
#   branches, CL-ILR or ONE (0.10 to 0.20; the intervals printed above rule out a
#   difference of more than about ±0.66 points). Only DML's separate networks, by far the
#   most diverse, give their ensemble measurably more: 0.80 against 0.17, an interval of
#   +0.02 to +1.24 points for DML over OKDDip, just past the rule. Diversity that comes from
#   separate networks buys something; the smaller differences between branches do not, at
#   this scale.

# %% [markdown]
# ## Exercises
#
# Each exercise says what you should find; its worked solution is the collapsed cell below.

# %% [markdown]
# **Exercise 1** (write code): implement the disagreement diversity measure by hand. Given
# the peers' probabilities `probs` of shape (B, m, C), return the mean over images of the
# fraction of peer pairs a < b whose top-1 classes differ. Check it on the hand-made peers
# of section 1 and on random probabilities against `pairwise_diversity(...)["div_disagree"]`
# (which sums over the batch: divide by B).
#
# Expected: 0 for identical peers, 2/3 ≈ 0.6667 when one of three disagrees, and your
# value equals the library's on random inputs.

# %% tags=["solution"]
#@title Solution
def disagreement(probs: torch.Tensor) -> torch.Tensor:
    B, m, C = probs.shape
    top = probs.argmax(dim=-1)                                    # (B, m)
    pairs = [(a, b) for a in range(m) for b in range(a + 1, m)]
    differ = torch.stack([(top[:, a] != top[:, b]).float() for a, b in pairs], dim=1)
    return differ.mean()                                         # mean over images and pairs


print(f"identical {disagreement(same):.4f}, one differs {disagreement(odd):.4f}")
rand = torch.softmax(torch.randn(64, 4, 10, generator=torch.Generator().manual_seed(0)), -1)
library = pairwise_diversity(rand)["div_disagree"] / rand.shape[0]
print(f"random peers: by hand {disagreement(rand):.4f}, library {library:.4f}")
assert torch.isclose(disagreement(rand), library)

# %% [markdown]
# **Exercise 2**: is diversity always good for the single network you deploy? From the
# histories of section 2, compare at the last epoch each method's `val_div_l2` with its
# mean single-peer accuracy `val_top1_peer_mean`.
#
# Expected: the most diverse group (DML, separate networks, div_l2 0.098) has the weakest
# single peers (about 52.7 %, against 55.0 % for ONE): at this scale more diversity did not
# come with better networks to deploy.

# %% tags=["solution"]
#@title Solution
peer_view = last.groupby("variant")[["val_div_l2", "val_top1_peer_mean"]].mean().reindex(
    METHODS)
print(peer_view.sort_values("val_div_l2", ascending=False).round(3).to_string())
print("most diverse:", peer_view["val_div_l2"].idxmax(), "| best single peers:",
      peer_view["val_top1_peer_mean"].idxmax())

# %% [markdown]
# **Exercise 3**: does the diversity–ensemble link of section 4 appear once training is
# long? Take every course-scale run with peers (`assets/results-course/results.csv`, read in
# section 6; a run shared by several suites appears once per suite, so keep one row per
# `run`), plot each run's `ens_gain` against its `div_l2`, colour by suite and variant, and
# compute the correlation between the two.
#
# Expected: the separate networks stand apart, the most diverse and with the largest
# ensemble gains: DML's (div_l2 about 0.14, gains about +0.8 points on average) and
# OKDDip's network layout (about 0.26, about +2.1). The runs on a shared trunk spread over
# about 0.05 to 0.11 with gains within about a point of zero and no trend: their
# correlation is near zero, while all runs together give a strong one, made by the
# separate networks alone. At this scale diversity bought the ensemble something only
# where it came from separate networks (notebook 06, section 10).

# %% tags=["solution"]
#@title Solution
if course_dir is None:
    print("no course results here (the smoke profile skips them)")
else:
    runs = pd.read_csv(course_dir / "results.csv").drop_duplicates("run")
    runs = runs[runs["div_l2"].notna()].assign(group=lambda d: d["suite"] + "/" + d["variant"])
    separate = runs["variant"].eq("dml") | runs["group"].eq("layout/network")  # no trunk
    branches = runs[~separate]  # every other course run shares a trunk
    for name, part in (("all runs", runs), ("branches on a trunk", branches)):
        print(f"{name}: {len(part)} runs; div_l2 {part['div_l2'].min():.3f} to "
              f"{part['div_l2'].max():.3f}; ens_gain {part['ens_gain'].min():+.2f} to "
              f"{part['ens_gain'].max():+.2f} points; correlation "
              f"{part['div_l2'].corr(part['ens_gain']):+.2f}")
    print(runs.groupby("group")[["div_l2", "ens_gain"]].mean().round(3).to_string())
    ax = sns.scatterplot(data=runs, x="div_l2", y="ens_gain", hue="group", s=60)
    ax.set(title="course runs: diversity vs ensemble gain (one point per run)",
           ylabel="ens_gain (points)")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# **Next**: [notebook 06](06_ablations.ipynb) repeats these runs over seeds and removes one
# component of OKDDip at a time.
