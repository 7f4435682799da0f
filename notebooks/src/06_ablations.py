# %% [markdown]
# # 06 · Ablations: what each part of OKDDip buys, over seeds
#
# {{colab_badge}}
#
# OKDDip is a stack of design choices: attention-based targets for each peer (first
# level), a group leader that learns from the peers' ensemble (second level), m = 3 peers,
# T = 3, no stop-gradient at the targets, peers as branches of one network. The paper
# justifies them with ablations: take one choice away, keep everything else, retrain,
# compare. This notebook does the same with the course's experiment suites, and sets
# OKDDip beside the methods it is compared with.
#
# **What you will learn**
# - how to read an ablation: mean ± standard deviation over seeds, best epoch against final
#   epoch, and when a difference is smaller than the noise between seeds;
# - what the aggregation (attention, mean, gate, none), the group leader, the number of
#   peers m, the temperature T, the stop-gradient and the branch- or network-based layout
#   each change, in accuracy, in peer diversity and in the attention weights;
# - where these small runs stand against the published CIFAR-100 numbers, and why the two
#   cannot be compared directly;
# - how to run a suite yourself (`okddip_edu.experiments`, resumable) and summarise it
#   (`okddip_edu.report`, also `okddip-edu report DIR` on the command line).
#
# **Prerequisites**: [notebook 02](02_online_distillation.ipynb) (the methods compared
# here), [notebook 04](04_two_level_training.ipynb) (the two levels of distillation) and
# [notebook 05](05_diversity.ipynb) (the diversity measures).
#
# **Expected run time**: the notebook reads pre-computed results, so by default nothing is
# trained (the instructor guide, `notebooks/README.md`, lists the measured times); the
# smoke profile (CI) trains one tiny suite on synthetic images. Training the committed
# results themselves takes hours on a CPU: see their provenance below.
#
# **Two scales, side by side.** Every table comes at two scales, each labelled: the
# **quick** scale (`assets/results/`: ResNet-8 on 4,085 `cifar10-5k` images, 12 epochs, 2 or
# 3 seeds) and the **course** scale (`assets/results-course/`: the first 2,000 of those
# images, 60 epochs, 5 seeds for the comparisons, 3 for the trends). A suite not run at a
# scale says so. Section 13 gathers every claim into one evidence table.

# %%
# {{install_cell}}

# %%
from okddip_edu import course

nb = course.setup(full_epochs=30)

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import ipywidgets as widgets
import pandas as pd
from IPython.display import Markdown, display

from okddip_edu import experiments, report, resources
from okddip_edu.plots import curves

# %% [markdown]
# ## 1. The suites
#
# A *suite* is a list of variants, each a few config fields changed from OKDDip's default,
# crossed with seeds. `okddip_edu.experiments.SUITES` holds the paper's comparisons and
# ablations; `expand` turns a suite into runs. Identical runs are shared: OKDDip's default
# variant (attention, leader on, m = 3, T = 3, no detach, branch-based) appears in every
# suite but is trained once per seed, so the whole grid of 60 (suite, variant, seed) rows
# needs 46 trainings.

# %% tags=["nbval-check-output"]
grid = []
for name, variants in experiments.SUITES.items():
    jobs = experiments.expand(name, "quick")
    changed = ", ".join(f"{v.name}: {v.overrides or 'default'}" for v in variants)
    print(f"{name:12s} {len(variants)} variants x {len({j.seed for j in jobs})} seeds | {changed}")
    grid += jobs
print(f"{len(grid)} rows, {len({j.run_dir for j in grid})} distinct trainings")

# %% [markdown]
# Each variant changes one thing. `method` swaps the whole method (the `methods` suite);
# `aggregation`, `second_level`, `branches`, `temperature`, `detach`, `mask_diagonal` and
# `layout` are the ablation switches of OKDDip's config (`okddip_edu.config.Config`).
#
# ## 2. The results: committed, or your own
#
# The course ships the results of every suite in `assets/results/` (`results.csv`: one
# row per suite, variant and seed; `histories.csv`: every epoch of every run), so nobody
# has to retrain to read them; an installed package carries a copy (on Colab, for
# instance). `report.find_results` looks in the folder you give it, then `$OKDDIP_RESULTS`,
# then the clone's `assets/results/`, then the installed copy; `report.load_results` reads
# both tables.

# %%
RESULTS_DIR = None  # or the --out folder of your own `okddip-edu ablate` run

results_dir = report.find_results(RESULTS_DIR)
if results_dir is not None:
    results, histories = report.load_results(results_dir)
    setting = results[["dataset", "arch", "epochs"]].drop_duplicates()
    print(f"{len(results)} finished runs in {resources.display_path(results_dir)}")
    print("setting:", "; ".join(f"{r.dataset}, {r.arch}, {r.epochs} epochs"
                                for r in setting.itertuples()))
    print("seeds per suite:", results.groupby("suite", sort=False)["seed"].nunique().to_dict())
    provenance = report.provenance(results_dir)
    if provenance:
        display(Markdown("\n".join(provenance.splitlines()[:30])))
else:
    results = histories = None
    print("No committed results found: the next cell stops and says how to make them.")

# %% [markdown]
# ### Run a suite yourself
#
# `expand` + `run_suite` train every missing run of a suite and write `results.csv` and
# `histories.csv` after each run. A finished run is skipped, an interrupted one resumes
# from its last checkpoint, so you can stop the cell and rerun it. The same thing on the
# command line: `okddip-edu ablate leader --preset quick --out runs/suites` then
# `okddip-edu report runs/suites`.
#
# - smoke profile (the tests): always trains the `leader` suite, 1 seed, 2 epochs, on
#   synthetic images, into a temporary folder, then writes its report (seconds);
# - quick and full: trains only if you set `RUN_SUITE = True`, at the profile's scale, into
#   `runs/suites-notebook` next to this notebook. One quick run takes a few minutes on a
#   laptop CPU; a suite has 4 to 18 of them. Where no results were found and
#   `RUN_SUITE` is False, the cell stops with the command that makes them: nothing long
#   starts unasked.

# %%
RUN_SUITE = False  # set True to train SUITE at this profile's scale
SUITE = "leader"  # any of experiments.SUITES
SEEDS = nb.pick(full=None, quick=None, smoke=1)  # None: the suite's default (3 or 2)

if results is None and not (RUN_SUITE or nb.profile == "smoke"):
    raise course.no_results("all", "RUN_SUITE", RESULTS_DIR)
if nb.profile == "smoke" or RUN_SUITE:
    cfg = nb.config()  # the profile's scale: dataset, epochs, schedule, device
    base = dict(dataset=cfg.dataset, epochs=cfg.epochs, milestones=cfg.milestones,
                rampup=cfg.rampup, device=cfg.device)
    if nb.profile == "smoke":
        suite = "leader"
        base.update(dataset="synthetic", epochs=2, train_subset=128)
        out = Path(tempfile.mkdtemp(prefix="okddip-suite-"))
    else:
        suite, out = SUITE, Path("runs") / "suites-notebook"
    preset_name = {"full": "paper", "quick": "quick", "smoke": "smoke"}[nb.profile]
    jobs = experiments.expand(suite, preset_name, seeds=SEEDS, out=out, **base)
    mine = experiments.run_suite(jobs, out, progress=nb.profile != "smoke")
    path = report.write_report(out)
    print(f"report of this run: {path} ({len(mine)} rows)")
    display(report.format_summary(report.summary_table(mine, suite)))
    if results is None:
        results, histories = report.load_results(out)

# %% [markdown]
# `write_report` wrote a `report.md` and PNG figures next to the results; the table above
# is the same summary the rest of this notebook shows for every suite. With one seed there
# is no ± : one seed says nothing about the noise between seeds.
#
# ## 3. How to read the tables
#
# For each suite and variant, `report.summary_table` gives the mean and the sample
# standard deviation (ddof = 1) over seeds of:
#
# - **best-epoch leader top-1**: the highest validation accuracy of the leader over the
#   epochs. The epoch is picked on the same split it is measured on, so this number is
#   optimistic (the released OKDDip code does the same with the test set);
# - **final-epoch leader top-1**: the accuracy after the last epoch, the honest number;
# - **final-epoch ensemble top-1** and **mean-peer top-1**: the peers' ensemble and the
#   average single peer;
# - the peers' diversity at the last epoch (`div_l2`, `div_disagree`, `div_js`; notebook
#   05) and the mean attention diagonal `att_diag` (notebook 03).
#
# Methods without a leader (independent, DML, CL-ILR, ONE) report their mean single-branch
# accuracy as "leader", the expected accuracy of deploying one of their networks.
# `report.format_summary` turns the table into `mean ± std` text; `report.suite_figure`
# draws the final-epoch bars (error bars: std over seeds; dots: single seeds). Its y axis
# does not start at 0, to make differences of a point visible: read the axis.

# %%
SHORT = ["best_top1_leader", "final_top1_leader", "final_top1_ens", "div_l2",
         "div_disagree", "att_diag"]
SCALE_NAMES = {"results": "quick scale", "results-course": "course scale"}

course_dir = report.find_results(name="results-course")  # read, never trained here
course_results, course_histories = (report.load_results(course_dir) if course_dir
                                    else (None, None))
SCALES = {SCALE_NAMES.get(results_dir.name, "these results") if results_dir else
          "these results": results}  # scale -> results table
if course_results is not None:
    SCALES["course scale"] = course_results
for name, res in SCALES.items():
    print(f"{name}: {res['epochs'].iloc[0]} epochs, {res['run'].nunique()} distinct runs, "
          f"seeds per suite {res.groupby('suite', sort=False)['seed'].nunique().to_dict()}")


def show(suite, metrics=SHORT):
    """The suite's mean ± std table and bar chart at every scale, each labelled."""
    for name, res in SCALES.items():
        table = report.summary_table(res, suite)
        if table.empty:
            display(Markdown(f"**{suite}, {name}**: not run at this scale"))
            continue
        display(Markdown(f"**{suite}, {name}** (mean ± std over seeds)"))
        display(report.format_summary(table, metrics))
        display(report.suite_figure(res, suite))


def compare(suite, a, b, column="final_top1_leader"):
    """One sentence per scale: variant a minus variant b, against the noise between seeds."""
    for name, res in SCALES.items():
        try:
            print(f"{name}: " + report.describe_difference(
                report.difference(res, suite, a, b, column)))
        except (ValueError, KeyError):
            pass  # show() has said which scale has no such runs


# %% [markdown]
# ## 4. OKDDip against the methods it is compared with
#
# The `methods` suite trains each method of the paper's comparison with n = 4 branches
# (OKDDip: 3 peers + 1 leader), T = 3, the same data, schedule and seeds: a single network
# (baseline), independent branches (no distillation), DML (4 networks), CL-ILR, ONE, OKDDip.

# %%
show("methods", metrics=None)

# %%
for other in ("baseline", "independent", "dml", "cl-ilr", "one"):
    compare("methods", "okddip", other)
compare("methods", "okddip", "one", "final_top1_ens")

# %% [markdown]
# What to notice:
#
# - compare each difference with its standard error before believing a ranking: with 3
#   seeds and a short run, a difference of a point can be noise;
# - compare the ensemble bar with the leader bar of each group method: averaging peers
#   helps only as far as they disagree, which is what the diversity columns measure;
# - the quick preset's cosine schedule ends at a learning rate near 0, so the best epoch is
#   usually one of the last and best and final columns stay close; with the paper's step
#   schedule they can drift further apart.
#
# The peers' diversity over the epochs, one line per method (mean over seeds, band: ± one
# std), at each scale. The baseline is one network and has no diversity.

# %%
for name, hist in (("quick scale", histories), ("course scale", course_histories)):
    if hist is not None and "methods" in set(hist["suite"]):
        display(Markdown(f"**methods, {name}**"))
        display(report.diversity_figure(hist, "methods"))
    else:
        print(f"no 'methods' histories at the {name}")

# %% [markdown]
# The paper's claim (abstract): with simple aggregation the peers are "homogenized
# quickly", which limits what the group can teach; per-peer attention targets keep them
# more diverse. Read the curves with that in mind: where does OKDDip sit against DML and
# ONE, and does its diversity decay more slowly?
#
# ## 5. First level: how each peer's target is formed
#
# `aggregation` switches OKDDip's first level: **attention** (each peer a has its own
# weights α_ab over the peers), **mean** (every peer learns from the same uniform average),
# **gate** (ONE's gate: one set of weights for all peers, from the shared trunk), **none**
# (no first-level distillation: the peers learn from the labels only; the leader still
# learns from their ensemble).

# %%
show("aggregation")

# %%
for other in ("mean", "gate", "none"):
    compare("aggregation", "attention", other)
for other in ("mean", "gate", "none"):
    compare("aggregation", "attention", other, "div_l2")
compare("aggregation", "gate", "mean", "div_l2")

# %% [markdown]
# What to notice: the paper's argument predicts the attention variant to keep the peers
# more diverse than the uniform mean, which gives every peer the same target; check
# whether these seeds agree, and whether the accuracy follows. `att_diag` is the weight a
# peer's target gives the peer's own logits: the attention learns it (it ends well above
# uniform in the table), the mean fixes it at 1/m = 1/3 by construction, and `gate` and
# `none` have no per-peer weights, hence no value.
#
# At the course scale (5 seeds each, the course lines printed above) the first levels
# order the peers' diversity clearly: ONE's gate and the uniform mean, which give every
# peer one shared target, leave them most alike (div_l2 0.070 and 0.069: the last line
# cannot tell them apart, +0.001 with an interval of −0.003 to +0.005); attention keeps
# them further apart (0.088); no first level at all, further still (0.098). The leader
# follows none of it measurably: attention against each of the three is "cannot tell",
# the intervals ruling out a gain of attention above 0.80 to 1.65 points and a loss above
# 1.29 to 1.65.
#
# ## 6. Second level: the group leader
#
# With `second_level=False` the leader learns from the labels only; the peers still
# distil among themselves. The difference is what the second level (the leader learning
# from the peer ensemble, L_dis2) adds to the deployed network.

# %%
show("leader")

# %%
compare("leader", "on", "off")
compare("leader", "on", "off", "final_top1_ens")

# %% [markdown]
# What to notice: L_dis2 trains the leader towards the peers' ensemble; with nothing
# detached it also sends gradient into the peers (their mean is the target), and in the
# branch layout through the shared trunk. Compare how far the leader column moves with how
# far the ensemble column moves. In a short run the ramp-up w(e) (notebook 04) keeps
# distillation weak for the first epochs, which shrinks every effect of this section.
#
# ## 7. Number of peers
#
# `branches` = m + 1. More peers give a larger ensemble to learn from, at the cost of
# one branch of compute each.

# %%
show("peers")

# %%
compare("peers", "m=5", "m=2")
compare("peers", "m=5", "m=2", "final_top1_ens")

# %% [markdown]
# What to notice: does the ensemble gain more from extra peers than the leader does?
# `att_diag` starts near 1/m, so it is smaller for larger m by construction: compare it
# with 1/m, not across rows.
#
# ## 8. Temperature
#
# T softens every distillation target (notebook 01). T = 1 distils the raw probabilities;
# larger T passes on more of the "dark knowledge" in the small probabilities.

# %%
show("temperature")

# %%
compare("temperature", "T=3", "T=1")
compare("temperature", "T=5", "T=3")

# %% [markdown]
# What to notice: the loss is multiplied by T² so that its gradient keeps the same scale
# (notebook 01); the effect of T is then on the *shape* of the targets. At the course scale
# (3 seeds per temperature) the leaders of all five temperatures end within 0.53 points of
# each other (59.27 to 59.80), and both registered differences above are "cannot tell",
# each with the interval it leaves. The column that does move is `att_diag`: it is lowest at T = 1 and
# levels off from T = 2 on, so softer targets make each peer's attention weigh its own
# logits more. At the quick scale the diagonal rises with T as well, from 0.569 at T = 1 to
# 0.67 to 0.70 for T = 3 to 5 (2 seeds each; the steps between those three are within
# their spread).
#
# ## 9. Stop-gradient at the targets
#
# The released code detaches nothing: the gradient of each peer's distillation loss flows
# into its target, hence into the other peers and into W_q and W_k, the attention's only
# source of gradient. `detach=True` stops it there: W_q and W_k then keep their initial
# values, and the attention weights move only because the features they read change
# (notebook 03, section 4).

# %%
show("detach")

# %%
compare("detach", "no-detach", "detach")
compare("detach", "no-detach", "detach", "att_diag")

# %% [markdown]
# **The clear finding of this section** (printed above, at both scales): the stop-gradient
# changes the attention, not the accuracy. Without it each peer ends with about two thirds
# of its target on its own logits after 12 epochs (`att_diag` 0.670) and about nine tenths
# after 60 (0.913); with it the weights stay near uniform (0.346 and 0.325), a difference of
# more than 40 standard errors at either scale. The leader's accuracy moves by a fraction
# of a point (+0.20 and −0.30), which neither scale can tell apart: the intervals printed
# above rule out a difference above 2.7 points at the quick scale and above 2.1 at the
# course scale. Self-attention grows because
# the gradient of a peer's own distillation loss reaches W_q and W_k: a peer lowers that
# loss by attending to itself (t_a = z_a makes it zero).

# %% [markdown]
# ### A peer in its own target: `mask_diagonal`
#
# The released code lets a peer attend to itself (α_aa > 0), which is what lets the
# self-attention above grow. `mask_diagonal=True` sets α_aa = 0: each peer's target is
# made of the *other* peers only (notebook 03).

# %%
show("mask_diagonal")

# %%
compare("mask_diagonal", "mask", "no-mask")
compare("mask_diagonal", "mask", "no-mask", "div_l2")

# %% [markdown]
# What to notice (printed above): leaving the peer out of its own target makes the peers
# *less* diverse, not more, at both scales (quick: div_l2 0.042 vs 0.053, about five
# standard errors; course: 0.056 vs 0.088, some twenty). Without the mask a peer's target is
# mostly its own logits, which pulls it only weakly towards the others; with the mask the
# whole target is the others. The quick runs' leader gain (+0.85 points, about 2.5 standard
# errors from 2 seeds each) did not hold at the course scale, where 5 seeds each cannot
# tell the two apart (the interval printed there).

# %% [markdown]
# ## 10. Branch-based or network-based
#
# **branch**: one network whose low-level layers (the trunk) are shared by the 4 branches.
# **network**: 4 independent ResNets, sharing nothing but the attention projections:
# more parameters and compute, and peers that can differ from the first layer on.

# %%
show("layout")

# %%
compare("layout", "network", "branch")
compare("layout", "network", "branch", "div_disagree")
compare("layout", "network", "branch", "div_l2")
compare("layout", "network", "branch", "att_diag")
compare("layout", "network", "branch", "ens_gain")

# %% [markdown]
# **The clear finding of this section** (printed above, at both scales): four separate
# networks are three times as diverse as four branches on a shared trunk (`div_l2` 0.159 vs
# 0.053 at the quick scale, 0.263 vs 0.088 at the course scale), and their attention
# collapses furthest onto the peer itself (`att_diag` 0.938 and 0.989, the strongest
# self-attention in the course): peers that differ more offer each other less that looks
# useful, so each leans on its own logits, and the first level hardly pulls them together.
# Here the diversity does buy something: the ensemble of separate networks gains over its
# mean member (`ens_gain`, last lines: about two points at the course scale, against 0.17
# for the branches, more than seven standard errors). The deployed network does not
# follow: the quick scale's leader gain (+0.50 points, more than two standard errors but
# from 2 seeds each) did not hold at the course scale, where 5 seeds each cannot tell the
# layouts apart and rule out a gain of the network layout's leader above 0.88 points (the
# first lines).

# %% [markdown]
# ## 11. The attention over the epochs
#
# The mean diagonal of the attention matrix, per epoch, for every OKDDip variant that has
# one (panels: suites). A peer can lower its own distillation loss by attending to itself
# (α_aa → 1): its target then becomes its own logits. The dotted line is 1/m, uniform
# weights.

# %%
# at the course scale, the suites of the comparisons (peers, temperature: their tables)
trends = ["peers", "temperature"]
course_att = (course_histories[~course_histories["suite"].isin(trends)]
              if course_histories is not None else None)
for name, hist in (("quick scale", histories), ("course scale", course_att)):
    if hist is None:
        continue
    try:
        fig = report.attention_figure(hist)
    except ValueError as err:  # no OKDDip run with an attention matrix in these results
        print(f"{name}: {err}")
        continue
    display(Markdown(f"**attention diagonal, {name}**"))
    display(fig)

# %% [markdown]
# What to notice: the diagonal drifts up from 1/m over training (peers copying
# themselves) in every attention variant whose targets are not detached, higher and longer
# at the course scale; `detach` (section 9) keeps it flat near 1/m, and the network layout
# (section 10) drives it highest.
#
# ## 12. The published numbers, and why ours are not comparable
#
# `report.published_for(dataset, arch)` returns the published numbers of a setting from
# `assets/published/published.csv` (every row has a source). For the setting of the
# results above there are none:

# %%
for r in results[["dataset", "arch", "epochs"]].drop_duplicates().itertuples():
    try:
        pub = report.published_for(r.dataset, r.arch)
    except FileNotFoundError as err:  # the package installed without the repository
        print(err)
        break
    if pub.empty:
        print(report.no_published_reason(r.dataset, r.arch, r.epochs))
    else:
        display(pub[["method", "role", "metric", "value", "std", "top1_acc", "source"]])

# %% [markdown]
# The quick runs train ResNet-8 (width 16) on 4,085 CIFAR-10 training images of the
# `cifar10-5k` subset for 12 epochs with a cosine schedule, on a CPU, in a few minutes
# each; the course runs, the first 2,000 of them for 60 epochs. The paper trains ResNet-32 on the 50,000 CIFAR-100 training images for 300 epochs.
# What the full run gives, from the sources listed in `assets/published/README.md`:

# %% tags=["nbval-check-output"]
try:
    paper = report.published_for("cifar100", "resnet32")
except FileNotFoundError as err:  # the package installed without the repository
    print(err)
else:
    cols = ["method", "role", "metric", "value", "std", "top1_acc", "source"]
    print(paper[cols].to_string(index=False, na_rep="", max_colwidth=48))
    low, high = report.published_band("cifar100", "resnet32", "okddip", "leader")
    print(f"\nOKDDip leader, CIFAR-100, ResNet-32: {low:.2f} % to {high:.2f} % top-1")

# %% [markdown]
# How to read this against our tables:
#
# - the **band** for the OKDDip leader on CIFAR-100 / ResNet-32 runs from 73.25 % (the PCL
#   paper's re-run, ± 0.38) to 74.71 % (a single rerun by the authors), with the paper's
#   Table 2 at 25.65 ± 0.15 % error, i.e. 74.35 %, and reproductions of the released code
#   at 26.0 ± 0.3 % error over 8 runs (printed above);
# - the released code reports the **best** test epoch, so the paper's 74.35 % is a
#   best-epoch number; the other sources do not say which epoch. A final-epoch number
#   would be a little lower;
# - the MCL-OKD rows use a cosine schedule with restarts, not the paper's step schedule,
#   and give no standard deviation: they rank the methods of one codebase, not the paper's;
# - the paper's ablation tables could not be checked, so no published number sits beside
#   the ablation suites: their rows are compared with each other only.
#
# Our absolute accuracies (10 classes, a few thousand images, 12 or 60 epochs) say nothing about
# these numbers, and a ranking at our scale need not hold at theirs. What transfers is the
# method of comparison: same seeds, same schedule, one change at a time, mean ± std, best
# and final epoch kept apart.
#
# ## 13. The evidence, in one table
#
# Every claim of the paper, each as a comparison of two variants (a beats b), against every
# source of numbers the course has: the paper's own figure where one is known, the
# independent re-runs (`assets/published/published.csv`), and our runs at both scales.
# `report.evidence.table` computes it from the committed CSVs (the README shows the same
# table). Each of ours is a − b ± 2 standard errors over seeds, with its verdict:
# **supports** when the whole interval is above 0, **contradicts** when it is below,
# **cannot tell** otherwise; and what the interval rules out.

# %%
from okddip_edu.report import evidence

evidence_table = evidence.table({name.split()[0]: res for name, res in SCALES.items()})
with pd.option_context("display.max_colwidth", None):
    display(evidence_table)
print(evidence.CAPTION)

# %% [markdown]
# How to read it: a "cannot tell" is not "no effect": it says the effect, if any, lies in
# the interval, and so rules out anything larger. At the course scale, for example, 5 seeds
# each rule out that OKDDip's leader beats a single network by more than about a point
# (first row). A "supports" holds for *that* setting (ResNet-8, a few thousand CIFAR-10
# images), not for CIFAR-100 at 300 epochs; and our numbers are final-epoch, while the paper
# and the re-runs report the best epoch or do not say. Two standard errors from two to five
# seeds is a rough guide, not a significance test.
#
# ## 14. Browse the suites
#
# The dropdown redraws the bar chart of a suite with `report.suite_figure` (the same
# function the sections above use).

# %%
present = [s for s in experiments.SUITES if s in set(results["suite"])]
widgets.interact(lambda suite: report.suite_figure(results, suite),
                 suite=widgets.Dropdown(options=present, value=present[0], description="suite"));

# %% [markdown]
# ## 15. What training longer changes
#
# The quick preset trains 12 epochs on 4,085 images, where every network still underfits and
# online distillation, a regulariser, has little to correct. A pilot
# (`assets/results-course/PROVENANCE.md`) chose the `course` preset, the first 2,000 of those
# images for 60 epochs, as the longest regime the CPU could pay for in which a single
# network fits its training images far better than it generalises, and registered the
# comparisons before the runs. Is that so? The single network's accuracy on its own
# (augmented) training batches against the validation images, over the 60 epochs:

# %%
if course_histories is not None and "methods" in set(course_histories["suite"]):
    single = course_histories.query("suite == 'methods' and variant == 'baseline'")
    long = pd.concat([
        single.assign(curve="training batches (augmented, during the epoch)",
                      top1=single["train_top1_head"]),
        single.assign(curve="validation", top1=single["val_top1_leader"])])
    curves.metric_curves(long, "top1", color="curve",
                         title="single network, course scale: top-1 %").show()
    end = single[single["epoch"] >= single["epoch"].max() - 9].groupby("epoch")[
        ["train_top1_head", "val_top1_leader"]].mean()
    print(f"last epoch: training {end['train_top1_head'].iloc[-1]:.1f} %, validation "
          f"{end['val_top1_leader'].iloc[-1]:.1f} % (mean over seeds); over the last ten "
          f"epochs validation went from {end['val_top1_leader'].iloc[0]:.1f} to "
          f"{end['val_top1_leader'].iloc[-1]:.1f} %")
else:
    print("no course results here (committed in assets/results-course; the smoke profile "
          "skips them)")

# %% [markdown]
# **What to notice.** The single network ends about 20 points better on its training batches
# than on the validation images (printed above), and its validation accuracy has stopped
# rising while its training accuracy still climbs: a generalisation gap a regulariser could
# narrow. It is not the textbook overfit, where validation accuracy turns down; with
# augmentation it never does in 60 epochs.
#
# **What the course scale decides** (the tables above and the evidence table of section 13;
# 5 seeds per variant for the comparisons, 3 for the peers and temperature trends).
# - **The registered comparisons: cannot tell**, and the intervals are narrow. OKDDip's
#   leader (59.50 %) is within the seed noise of a single network (59.46 %) and of the
#   leader of independent branches (59.59 %): a gain of more than about a point over either
#   is ruled out at this scale.
# - **Attention keeps the peers more diverse than a uniform mean: supported** (div_l2
#   0.088 vs 0.069, about ten standard errors), without a better leader (59.50 vs 59.80 %,
#   cannot tell: −0.30 ± 1.10 points). Section 11 says how: the attention diagonal climbs
#   to about 0.91, so each peer's target is mostly its own logits and pulls it little
#   towards the others. With the targets detached the diagonal stays at 0.33 and the
#   diversity falls to 0.067 (the uniform mean: 0.069): the diversity the paper credits to
#   attention comes, here, from peers learning to distil from themselves.
# - **The second level: cannot tell.** With the leader learning from the peers' ensemble it
#   ends at 59.50 %, without it at 58.80 % (+0.70 ± 1.65: a gain above 2.35 points or a
#   loss above 0.95 is ruled out, section 6), and against its own peers in the same runs it
#   is −0.09 ± 0.49 (standard error 0.25 in the claims table of
#   `assets/results-course/report.md`): the leader is not measurably better than a peer.
# - **A peer kept out of its own target** (`mask_diagonal`): the peers end far less
#   diverse (div_l2 0.056 vs 0.088), below even the uniform mean, and the leader cannot be
#   told apart (+0.44 ± 1.48 points, section 9). The self-weight is what kept the peers
#   apart.
# - **OKDDip against DML, CL-ILR and ONE: cannot tell** (registered too; 5 seeds each,
#   section 4): −0.08 ± 1.22, −0.02 ± 1.21 and −0.81 ± 1.60 points. No method's deployed
#   network beats another's by more than about a point here (two and a half against ONE,
#   whose seeds spread most).
# - **Diversity is kept, against the methods with a shared target: supported.** OKDDip's
#   peers end more diverse than CL-ILR's (0.088 vs 0.061) and ONE's (0.080), but less than
#   independent branches (0.099) and DML's separate networks (0.143) (section 4's figure).
# - **More peers: cannot tell** (registered trend; section 7, 3 seeds per variant): m = 5
#   minus m = 2 is −0.57 ± 3.58 points on the leader, an interval too wide to say more than
#   that the seeds spread widely here; the attention diagonal falls only slowly as peers
#   are added (printed in section 7's table), so each peer still weighs itself most.
# - **The gate and no first level** (secondary, section 5, 5 seeds each): attention minus
#   ONE's gate is +0.02 ± 1.31 points on the leader and attention minus no first level
#   +0.00 ± 1.65, both cannot tell; on diversity attention sits between the shared targets
#   (gate 0.070, mean 0.069) and no first level (0.098). The first level decides how alike
#   the peers end; its effect on the deployed network, if any, is bounded by those
#   intervals.
# - **Separate networks instead of branches** (`layout`, section 10, 5 seeds each): the
#   peers end three times as diverse (div_l2 0.263 vs 0.088) and their ensemble gains
#   +2.09 points over its members against the branches' +0.17 (supported), but the leader
#   cannot be told apart (−0.26 ± 1.14 points). Diversity bought a better ensemble, not a
#   better deployed network.
# - **Temperature: cannot tell** (registered trend; section 8, 3 seeds per temperature):
#   T = 3 minus T = 1 is −0.10 ± 1.54 points on the leader and T = 5 minus T = 3 is
#   +0.47 ± 1.66; the five means lie within 0.53 points of each other. What T does move is
#   the attention diagonal (0.847 at T = 1, 0.91 to 0.92 from T = 2 on, section 8's table):
#   with softer targets each peer weighs itself even more.

# %% [markdown]
# ## Exercises
#
# Each exercise says what you should find; its worked solution is the collapsed cell below.

# %% [markdown]
# **Exercise 1** (write code): compute by hand the standard error behind one verdict.
# For the quick `detach` suite, take the final `att_diag` of each seed of `no-detach` and
# of `detach`, and compute the difference of the means and its standard error
# sqrt(s_a²/n_a + s_b²/n_b) with sample standard deviations; compare with
# `report.difference`.
#
# Expected: a difference of +0.325 (0.670 vs 0.346) with a standard error of about 0.007,
# the same as the library's; more than 40 standard errors, the clearest effect of the
# quick ablations.

# %% tags=["solution"]
#@title Solution
import math

part = results[results["suite"] == "detach"]
a = part.loc[part["variant"] == "no-detach", "att_diag"]
b = part.loc[part["variant"] == "detach", "att_diag"]
diff = a.mean() - b.mean()
se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)) if min(len(a), len(b)) > 1 \
    else float("nan")
lib = report.difference(results, "detach", "no-detach", "detach", "att_diag")
print(f"by hand: {diff:+.3f} (se {se:.4f}); library: {lib['diff']:+.3f} (se {lib['se']:.4f})")
assert math.isclose(diff, lib["diff"]) and (se != se or math.isclose(se, lib["se"]))

# %% [markdown]
# **Exercise 2**: what does a "cannot tell" still tell you? For the course scale's two
# registered comparisons (OKDDip against a single network, and against independent
# branches), compute the interval diff ± 2 se from `report.difference`, and say which gains
# of OKDDip's leader these runs rule out. Then: how many seeds each would halve the width
# of that interval, if the spread between seeds stayed the same?
#
# Expected: OKDDip − single network = +0.04 ± 0.94 points and OKDDip − independent
# branches = −0.09 ± 1.21: a gain above about one point over either is ruled out at this
# scale (so is a loss of more than about a point). The width shrinks as 1/√n: four times the
# seeds, 20 each, halve it. Note what the interval does *not* say: that the true
# difference is the observed one. Asking how many seeds would make +0.04 "significant"
# treats that noisy estimate as the truth; the interval is what the data support.

# %% tags=["solution"]
#@title Solution
if course_results is not None and {"okddip", "independent", "baseline"} <= set(
        course_results.loc[course_results["suite"] == "methods", "variant"]):
    for other in ("baseline", "independent"):
        d = report.difference(course_results, "methods", "okddip", other)
        lo, hi = d["diff"] - 2 * d["se"], d["diff"] + 2 * d["se"]
        print(f"okddip - {other}: {d['diff']:+.2f} ± {2 * d['se']:.2f} points "
              f"({d['n_a']} and {d['n_b']} seeds): rules out a gain above {hi:.2f} and a loss "
              f"above {-lo:.2f}; with {4 * d['n_a']} seeds each the ± would be about "
              f"{d['se']:.2f}")
else:
    print("no course results of the methods suite here")

# %% [markdown]
# **Going further**: set `RUN_SUITE = True` and `SUITE = "temperature"` in section 2 to
# train a suite yourself, or add seeds (`SEEDS = 3`: finished runs are skipped) and watch
# the standard errors shrink as 1/√seeds. On a GPU, `okddip-edu ablate methods --preset
# paper --seeds 3` trains the paper's setting, where the published band of section 12 is a
# fair comparison.
