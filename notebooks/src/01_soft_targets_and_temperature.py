# %% [markdown]
# # 01 · Soft targets and temperature
#
# {{colab_badge}}
#
# Every method in this course (DML, CL-ILR, ONE, OKDDip) trains networks that teach each
# other with **soft targets**: probability vectors softened by a temperature T. This
# notebook takes that building block apart on a real trained network.
#
# **What you will learn**
# - what `softmax(z / T)` does to a prediction, and what the "dark knowledge" in a soft
#   target is;
# - Hinton's distillation loss `KL_T(teacher -> student)`, computed with
#   `okddip_edu.losses.kd_loss`, and checked by hand;
# - why the loss is multiplied by **T²**, and why it must average over the batch
#   (`batchmean`) and not over every element: shown numerically;
# - with a temperature slider: how T reshapes a trained model's predictions, the loss between
#   two real models, and the gradient the student receives.
#
# **Prerequisites**: PyTorch basics (tensors, `softmax`, autograd), what a classifier's
# logits are.
#
# **Expected run time**: quick profile (laptop CPU, `cifar10-5k`, ResNet-8): under a minute
# with the two trained networks of section 4 loaded from the package (the default); about
# a minute with `TRAIN_LIVE = True` (35.9 s on 2 cores), nearly all of it training them. The instructor guide
# (`notebooks/README.md`) lists the measured times of both modes, and the last cell prints
# how long the notebook ran on your machine. Smoke profile (CI): under a minute. Full
# profile (GPU, CIFAR-100, ResNet-32, 30 epochs): not measured (no GPU was available).

# %%
# {{install_cell}}

# %%
import time

from okddip_edu import course

notebook_start = time.perf_counter()  # the last cell prints how long the notebook ran
nb = course.setup(full_epochs=30)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from okddip_edu import data
from okddip_edu.losses import kd_loss
from okddip_edu.plots import softmax as softmax_plots
from okddip_edu.widgets import TemperatureExplorer

# %% [markdown]
# ## 1. Softmax with a temperature
#
# A classifier outputs logits z ∈ R^C. The temperature T divides them before the softmax:
#
# $$p_c(z; T) = \frac{\exp(z_c / T)}{\sum_{c'} \exp(z_{c'} / T)}$$
#
# T = 1 is the ordinary softmax. As T grows every ratio $p_c / p_{c'} = \exp((z_c - z_{c'})/T)$
# moves towards 1 (towards the uniform distribution); as T → 0 the softmax becomes the
# one-hot arg-max. The order of the classes never changes.
#
# Below, one logit vector (a "cat" that also looks a bit like a dog) at three temperatures.

# %%
CLASSES = data.CIFAR10_CLASSES
z = torch.tensor([-1.0, -2.0, 0.5, 6.0, 0.0, 3.5, 1.0, -0.5, -2.5, -1.5])  # a confident "cat"
softmax_plots.softmax_temperature(z, [1, 3, 10], classes=CLASSES).show()

# %% [markdown]
# The same probabilities as numbers (`softmax_plots.soften` is the softmax of z / T), in %:

# %% tags=["nbval-check-output"]
probs = pd.DataFrame({f"T = {T}": 100 * softmax_plots.soften(z, T) for T in (1, 3, 10)},
                     index=CLASSES)
print(probs.round(1).to_string())
others = probs["T = 1"].drop(["cat", "dog"]).sum()
print(f"T = 1: the eight other classes share {others:.1f} %")

# %% [markdown]
# **What to notice.** At T = 1 the prediction is almost one-hot: "cat" takes 91 % of the
# mass, "dog" 7.5 %, and the other eight classes share the remaining 1.5 %. At T = 3 "dog"
# gets 19 % and the ranking of the unlikely classes (frog and bird above truck) becomes
# visible: this is the **dark
# knowledge** a teacher passes on, the similarity structure between classes that a one-hot
# label does not have. At T = 10 the distribution is close to uniform: too much softening
# washes the information out again.

# %% [markdown]
# ## 2. The distillation loss, and why `batchmean` matters
#
# Hinton et al. (2015) let a student match a teacher's softened distribution:
#
# $$\mathrm{KL}_T(\text{teacher} \to \text{student}) = T^2 \cdot \frac{1}{B} \sum_{i=1}^{B}
# \sum_{c=1}^{C} p_c(z_t^i; T) \,\log \frac{p_c(z_t^i; T)}{p_c(z_s^i; T)}$$
#
# The sum runs over the C classes, the **mean over the B samples** only. In PyTorch that is
# `F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)`, which is
# what `okddip_edu.losses.kd_loss` computes. `reduction="mean"` looks innocent but averages
# over all B·C elements: the loss (and its gradient) becomes **exactly C times smaller**, so
# the distillation term silently almost vanishes next to the cross-entropy. With CIFAR-100
# it is 100 times too weak. (PyTorch warns about it; the warning is printed below.)
#
# The cell below checks this on fixed, seeded logits (not on a trained model), so its output
# is identical on every machine and in every profile.

# %% tags=["nbval-check-output"]
T = 3.0
for C in (10, 100):
    g = torch.Generator().manual_seed(0)
    student = 2.0 * torch.randn(8, C, generator=g)  # (B, C) fixed logits
    teacher = 2.0 * torch.randn(8, C, generator=g)
    log_ps = F.log_softmax(student / T, dim=-1)
    log_pt = F.log_softmax(teacher / T, dim=-1)
    by_hand = T**2 * (log_pt.exp() * (log_pt - log_ps)).sum(dim=1).mean()  # sum over C, mean over B
    library = kd_loss(student, teacher, T)
    mistake = T**2 * F.kl_div(log_ps, log_pt, reduction="mean", log_target=True)
    assert torch.allclose(library, by_hand, rtol=1e-5)
    print(f"C = {C:3d}: kd_loss = {library.item():.4f} | by hand = {by_hand.item():.4f} | "
          f'reduction="mean" = {mistake.item():.6f} | ratio = {(library / mistake).item():.2f}')

# %% [markdown]
# **What to notice.** `kd_loss` and the formula written out by hand agree, and the
# `reduction="mean"` version is smaller by a factor of exactly C (10, then 100).

# %% [markdown]
# ## 3. Why T²: the gradient shrinks as 1/T²
#
# For one sample, the gradient of the softened KL with respect to the student's logits is
#
# $$\frac{\partial}{\partial z_s} \mathrm{KL}\big(p(z_t;T) \,\|\, p(z_s;T)\big)
#   = \frac{1}{T}\big(p(z_s;T) - p(z_t;T)\big).$$
#
# One 1/T comes from the softmax; and when T is large both distributions approach uniform,
# so their difference is itself about $(z_s - z_t)/(C\,T)$ (for zero-mean logits): about
# **1/T² in all**. Multiplying the loss by T² keeps the distillation gradient on the same
# scale whatever T is, so changing T does not secretly change the weight of the
# distillation term. Again on fixed logits:

# %% tags=["nbval-check-output"]
g = torch.Generator().manual_seed(0)
student = 2.0 * torch.randn(8, 10, generator=g)  # (B, C) fixed logits
teacher = 2.0 * torch.randn(8, 10, generator=g)
sweep = softmax_plots.temperature_sweep(student, teacher, [1, 2, 4, 8])
print(sweep[["T", "kl", "kl_t2", "grad", "grad_t2"]].round(4).to_string(index=False))
shrink = (sweep["grad"].shift() / sweep["grad"]).iloc[1:]
print("grad falls by", ", ".join(f"{r:.2f}" for r in shrink), "at each doubling of T")

# %% [markdown]
# **What to notice.** `grad` (the per-sample gradient norm without T²) falls by a factor of
# 3.5 to 4 each time T doubles; `grad_t2` (with T², what `kd_loss` gives) stays within a small
# factor. The same holds for the loss values: without T² a run at T = 8 would hardly
# distil at all.

# %% [markdown]
# ## 4. Real predictions: a trained network and a barely trained one
#
# Toy logits only go so far. We train two real networks on the same data with
# `okddip_edu.engine.fit` and the **baseline** method (one network, cross-entropy only):
#
# - a **teacher**: the profile's full run (quick profile: ResNet-8 on `cifar10-5k`,
#   12 epochs);
# - a **student**: the same network trained for a single epoch from another seed, still
#   uncertain, so that there is something to distil.
#
# `fit` shows a progress bar per epoch; the history has one row per epoch. Both runs ship
# with the package, trained, so by default `pretrained.fit_or_load` loads them in seconds;
# set `TRAIN_LIVE = True` to train them here (the instructor guide lists how long that
# takes).

# %%
from okddip_edu import pretrained

TRAIN_LIVE = False  # True: train the teacher and the student here

teacher_run = pretrained.fit_or_load(nb.config(method="baseline"), train_live=TRAIN_LIVE)
splits = teacher_run.splits  # reuse the loaded data for the second run
student_run = pretrained.fit_or_load(nb.config(method="baseline", epochs=1, seed=1),
                                     train_live=TRAIN_LIVE, splits=splits)
print(f"teacher: {teacher_run.final['val_top1_leader']:.1f}% validation top-1 "
      f"after {teacher_run.config.epochs} epochs")
print(f"student: {student_run.final['val_top1_leader']:.1f}% validation top-1 after 1 epoch")


# %% [markdown]
# The validation logits of both networks (the whole held-out split, in evaluation mode):

# %%
@torch.no_grad()
def validation_logits(run) -> torch.Tensor:
    """Logits (N, C) of a single-network run on its validation split."""
    s = run.splits
    loader = data.DeviceLoader(s.val_x, s.val_y, 500, s.mean, s.std, device=nb.device,
                               train=False)
    return torch.cat([run.model(x).logits[:, 0].float().cpu() for x, _ in loader])


val_teacher = validation_logits(teacher_run)  # (N, C)
val_student = validation_logits(student_run)
print("validation logits:", tuple(val_teacher.shape))

# %% [markdown]
# We pick four validation images from two pairs of look-alike classes (cat/dog and
# automobile/truck), where dark knowledge should show best. (With CIFAR-100 in the full
# profile, the first four validation images.)

# %%
wanted = ["cat", "dog", "automobile", "truck"]
if set(wanted) <= set(splits.classes):
    chosen = [int((splits.val_y == splits.classes.index(c)).nonzero()[0]) for c in wanted]
else:
    chosen = [0, 1, 2, 3]
titles = [f"#{i}: {splits.classes[int(splits.val_y[i])]}" for i in chosen]

fig, axes = plt.subplots(1, len(chosen), figsize=(1.6 * len(chosen), 1.9))
for ax, i, title in zip(axes, chosen, titles):
    ax.imshow(splits.val_x[i].permute(1, 2, 0).numpy())
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Play with T
#
# Move the slider. Top row: the softened predictions of the teacher (blue) and the student
# (orange) for the four images. Bottom row, computed on the whole validation set: the
# distillation loss `KL_T(teacher -> student)` (left) and the mean per-sample gradient norm
# w.r.t. the student's logits (right), each with the T² factor (solid, what the library
# uses) and without it (dashed). The black dots follow the slider; the green dotted line is
# the size of an ordinary cross-entropy gradient for the student (at T = 1, with the
# teacher's top-1 class as the label), the term the distillation competes with.

# %%
app = TemperatureExplorer(val_teacher[chosen], val_student[chosen], val_teacher, val_student,
                          classes=splits.classes, titles=titles, temperature=3.0)
app.show()

# %% [markdown]
# The figure's top row as numbers: each model's three most likely classes for the four
# images, at T = 1 and at T = 3 (in %).

# %%
for T in (1.0, 3.0):
    for name, logits in (("teacher", val_teacher[chosen]), ("student", val_student[chosen])):
        p = softmax_plots.soften(logits, T)  # (4, C)
        for title, row in zip(titles, p):
            top = np.argsort(-row, kind="stable")[:3]
            print(f"T = {T:g}  {name}  {title:<15}"
                  + ", ".join(f"{splits.classes[c]} {100 * row[c]:4.1f}" for c in top))
    print()

# %% [markdown]
# **What to notice** (numbers from the shipped quick runs, printed above; runs trained
# live on another machine may differ slightly).
# - A teacher trained for a few minutes (53 % top-1) is far from one-hot: on the cat image
#   it already hesitates between cat and dog at T = 1 (36 % and 33 %). On the automobile it
#   is sure (91 %) and most of its little remaining mass goes to truck (8 %); at T = 3 that
#   second choice becomes a visible part of the target (22 %). This ranking of the wrong
#   classes is the dark knowledge.
# - A teacher also passes on its mistakes: on the dog image ours prefers airplane and bird.
#   Soft targets are only as good as the network that makes them. The student, after one
#   epoch, gets three of the four images wrong (two birds and an airplane).
# - Without T² (dashed), the loss and its gradient fall steeply with T: the gradient shrinks
#   81-fold between T = 1 and T = 10. With T², the gradient stays near 0.5 from T = 2 to
#   T = 10, on the scale of the cross-entropy gradient (0.85, green).
# - With T², the loss levels off as T grows: in that limit it measures the distance between
#   the two models' *logits* (Hinton et al.'s high-temperature limit), no longer between
#   their probabilities.
#
# The bottom row's numbers for a few temperatures, as a table:

# %%
curves = app.sweep.set_index("T")  # every T of the slider
plateau = curves.loc[2.0:10.0, "grad_t2"]
print(f"without T²: the gradient shrinks "
      f"{curves.loc[1.0, 'grad'] / curves.loc[10.0, 'grad']:.0f}-fold from T = 1 to T = 10")
print(f"with T²: from T = 2 to T = 10 it stays between {plateau.min():.2f} and "
      f"{plateau.max():.2f}; the cross-entropy gradient: {curves['ce_grad'].iloc[0]:.2f}")
curves.loc[[0.5, 1.0, 2.0, 3.0, 5.0, 10.0]].round(4)

# %% [markdown]
# **Try it**
# - Train the student of section 4 for three epochs instead of one and run sections 4 and 5
#   again: how do the loss curves move, and where do the two models' soft targets still
#   differ?
# - Set the slider to T = 0.5: what does the teacher's target look like, and what would the
#   student learn from it that the label does not already say?
#
# **Honest scale note.** These are a ResNet-8 trained for a couple of minutes on 4,085
# CIFAR-10 images (the quick profile), at 53 % top-1; a ResNet-32 trained on the full
# CIFAR-10 is above 90 % (94.17 ± 0.15 % for an OKDDip-trained one in the PCL paper's
# re-runs, listed in `assets/published/published.csv`), and typically far more confident at
# T = 1. The *shapes* of the curves (1/T² without the factor, flat with it) are properties of
# the loss and do not depend on scale; the exact values do.
#
# **Next**: [notebook 02](02_online_distillation.ipynb) uses this loss between peers that
# learn together (DML, CL-ILR, ONE), with no pre-trained teacher at all;
# [notebook 03](03_attention_aggregator.ipynb) builds OKDDip's per-peer targets.

# %% [markdown]
# ## Exercises
#
# Each exercise says what you should see (**Expected**); its worked solution is the
# collapsed cell below it (click to expand it). The solutions run in seconds on a CPU and
# train nothing. Exercises 1 to 3 use the fixed, seeded logits of sections 2 and 3, so their
# numbers are the same on every machine; exercise 4 uses the two trained models.

# %% [markdown]
# **Exercise 1** (write code): implement the distillation loss by hand as a cross-entropy
# with soft targets, T² · (1/B) Σ_i ( −Σ_c p_c(z_t^i; T) log p_c(z_s^i; T) ), the form some
# distillation code uses instead of the KL divergence. Compare it with `kd_loss` on the fixed
# logits of section 2 (C = 10, T = 3): (a) by how much do the two values differ, and what is
# that difference? (b) Do their gradients with respect to the student's logits differ?
#
# Expected: the cross-entropy form gives 22.9255 and `kd_loss` 3.5782. The difference,
# 19.3472, is exactly T² times the teacher's mean entropy (2.1497 nats, below ln 10 = 2.3026),
# a number that does not depend on the student; so the gradients agree (largest difference
# about 1e-8, float rounding). Both losses train a student identically; only the KL is 0 when
# the student matches the teacher, which makes it the easier number to read in a log.

# %% tags=["solution"]
#@title Solution
def soft_cross_entropy(student_logits, teacher_logits, T):
    """T² · mean over the batch of -Σ_c p_t log p_s: distillation as a cross-entropy."""
    p_teacher = F.softmax(teacher_logits / T, dim=-1)  # (B, C)
    log_p_student = F.log_softmax(student_logits / T, dim=-1)  # (B, C)
    return T**2 * -(p_teacher * log_p_student).sum(dim=1).mean()


T = 3.0
g = torch.Generator().manual_seed(0)  # the logits of section 2, C = 10
student = 2.0 * torch.randn(8, 10, generator=g)  # (B, C)
teacher = 2.0 * torch.randn(8, 10, generator=g)
z_ce = student.clone().requires_grad_(True)
z_kl = student.clone().requires_grad_(True)
ce = soft_cross_entropy(z_ce, teacher, T)
kl = kd_loss(z_kl, teacher, T)
(grad_ce,) = torch.autograd.grad(ce, z_ce)
(grad_kl,) = torch.autograd.grad(kl, z_kl)
p_teacher = F.softmax(teacher / T, dim=-1)
entropy = -(p_teacher * p_teacher.log()).sum(dim=1).mean()  # mean teacher entropy (nats)
print(f"cross-entropy form: {ce.item():.4f} | kd_loss: {kl.item():.4f} | "
      f"difference: {(ce - kl).item():.4f}")
print(f"T² x teacher entropy: {T**2 * entropy.item():.4f} (entropy {entropy.item():.4f} nats, "
      f"ln 10 = {np.log(10):.4f})")
print(f"largest gradient difference: {(grad_ce - grad_kl).abs().max().item():.1e}")
assert torch.allclose(ce - kl, T**2 * entropy, atol=1e-4)
assert torch.allclose(grad_ce, grad_kl, atol=1e-6)

# %% [markdown]
# **Exercise 2**: check the gradient formula of section 3 with autograd. For `kd_loss`, which
# includes T² and averages over the batch, it becomes
# ∂L/∂z_s^i = T² · (1/B) · (1/T) (p(z_s^i; T) − p(z_t^i; T)) = (T/B) (p_s − p_t).
# Compute the gradient of `kd_loss` with `torch.autograd.grad` on the fixed logits of
# section 3 for T = 1, 2, 4, 8 and compare it with the formula.
#
# Expected: the largest difference is below 1e-6 at every T (float rounding only). The
# formula shows where the 1/T² of section 3 comes from: one factor 1/T from the softmax, and
# a difference of probabilities p_s − p_t that itself shrinks as T grows (its mean size
# falls from 0.140 at T = 1 to 0.027 at T = 8, roughly halving at each doubling from T = 2
# on); the loss's T² turns the 1/T into T.

# %% tags=["solution"]
#@title Solution
g = torch.Generator().manual_seed(0)  # the logits of section 3
student = 2.0 * torch.randn(8, 10, generator=g)  # (B, C)
teacher = 2.0 * torch.randn(8, 10, generator=g)
B = student.shape[0]
for T in (1.0, 2.0, 4.0, 8.0):
    z = student.clone().requires_grad_(True)
    (autograd,) = torch.autograd.grad(kd_loss(z, teacher, T), z)  # (B, C)
    formula = T / B * (F.softmax(student / T, dim=-1) - F.softmax(teacher / T, dim=-1))
    gap = (autograd - formula).abs().max().item()
    print(f"T = {T:g}: largest difference {gap:.1e}, mean |p_s - p_t| "
          f"{(formula * B / T).abs().mean().item():.4f}")
    assert gap < 1e-6

# %% [markdown]
# **Exercise 3**: where the loss goes at high temperature. With T², the loss levels off as T
# grows (section 5): for large T it tends to (1/2C) · (1/B) Σ_i ‖(z_s^i − mean z_s^i) −
# (z_t^i − mean z_t^i)‖², half the mean squared distance between the two models' *centred
# logits*, divided by C (Hinton et al.'s logit matching). Compute this limit on the fixed
# logits of section 3 and compare it with `kd_loss` at T = 1, 3, 10, 30, 100.
#
# Expected: the limit is 3.5875. At T = 1, `kd_loss` (2.7707) is 23 % below it; at T = 3, 10,
# 30 and 100 it is within 1 % of it (3.5782, 3.6105, 3.5971, 3.5913). So at high temperature
# the student is asked to copy the teacher's logits up to a constant, and no longer its
# probabilities.

# %% tags=["solution"]
#@title Solution
g = torch.Generator().manual_seed(0)  # the logits of section 3
student = 2.0 * torch.randn(8, 10, generator=g)  # (B, C)
teacher = 2.0 * torch.randn(8, 10, generator=g)
C = student.shape[1]
centred = (student - student.mean(dim=1, keepdim=True)) - (teacher - teacher.mean(dim=1,
                                                                                   keepdim=True))
limit = (centred**2).sum(dim=1).mean() / (2 * C)
print(f"high-temperature limit: {limit.item():.4f}")
for T in (1.0, 3.0, 10.0, 30.0, 100.0):
    loss = kd_loss(student, teacher, T)
    print(f"T = {T:5g}: kd_loss = {loss.item():.4f}, {loss.item() / limit.item():.3f} x the limit")
assert abs(kd_loss(student, teacher, 100.0) / limit - 1) < 0.01

# %% [markdown]
# **Exercise 4**: KL is not symmetric. Compute `kd_loss` between the two trained models of
# section 4 on the whole validation set (`val_teacher`, `val_student`) at T = 3 in both
# directions: the student learning from the teacher, as in this notebook, and the teacher
# learning from the student. Which is larger? Compare the mean entropy of the two models'
# softened predictions to explain why.
#
# Expected: the two directions differ. With the shipped runs (quick profile) the teacher
# learning from the student gives the larger loss (1.3804 against 1.2715): the one-epoch
# student is less confident (mean entropy 2.194 against 1.991 nats at T = 3). KL(p ‖ q) is
# large where p puts mass that q lacks, and a flat p (the student's) spreads mass into the
# classes the teacher rules out. Which direction a loss uses decides which mistakes it
# punishes.

# %% tags=["solution"]
#@title Solution
T = 3.0
forward = kd_loss(val_student, val_teacher, T).item()  # KL(p_teacher || p_student)
backward = kd_loss(val_teacher, val_student, T).item()  # KL(p_student || p_teacher)
print(f"T = {T:g}: student learns from teacher {forward:.4f} | "
      f"teacher learns from student {backward:.4f}")
for name, logits in (("teacher", val_teacher), ("student", val_student)):
    p = F.softmax(logits / T, dim=-1)  # (N, C)
    print(f"{name}: mean entropy at T = {T:g}: {-(p * p.log()).sum(dim=1).mean().item():.3f} "
          f"nats (uniform: ln {p.shape[1]} = {np.log(p.shape[1]):.3f})")

# %% [markdown]
# ---
# How long this notebook ran, from the set-up cell to here (the exercises included):

# %%
print(f"notebook run time: {(time.perf_counter() - notebook_start) / 60:.1f} min "
      f"({nb.profile} profile, {nb.device}, {torch.get_num_threads()} torch thread(s))")
