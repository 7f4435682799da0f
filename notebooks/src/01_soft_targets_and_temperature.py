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
# **Expected run time**: quick profile (laptop CPU, `cifar10-5k`, ResNet-8): about a
# minute (measured: 56 s on a quiet 2-core CPU machine with
# `python tools/build_notebooks.py 01 --execute --profile quick`; 3.2 min on 2 cores shared
# with other jobs); smoke profile (CI): under a minute; full profile (GPU, CIFAR-100,
# ResNet-32, 30 epochs): not measured (no GPU was available).

# %%
# {{install_cell}}

# %%
from okddip_edu import course

nb = course.setup(full_epochs=30)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from okddip_edu import data
from okddip_edu.engine import fit
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

# %%
# NBVAL_CHECK_OUTPUT
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

# %%
# NBVAL_CHECK_OUTPUT
g = torch.Generator().manual_seed(0)
student = 2.0 * torch.randn(8, 10, generator=g)  # (B, C) fixed logits
teacher = 2.0 * torch.randn(8, 10, generator=g)
sweep = softmax_plots.temperature_sweep(student, teacher, [1, 2, 4, 8])
print(sweep[["T", "kl", "kl_t2", "grad", "grad_t2"]].round(4).to_string(index=False))

# %% [markdown]
# **What to notice.** `grad` (the per-sample gradient norm without T²) falls roughly by 4
# each time T doubles; `grad_t2` (with T², what `kd_loss` gives) stays within a small
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
# `fit` shows a progress bar per epoch; the history has one row per epoch.

# %%
teacher_run = fit(nb.config(method="baseline"))
splits = teacher_run.splits  # reuse the loaded data for the second run
student_run = fit(nb.config(method="baseline", epochs=1, seed=1), splits=splits)
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
# **What to notice** (numbers from our quick run; a rerun on another machine may differ
# slightly).
# - A teacher trained for a few minutes (about 50 % top-1) is far from one-hot: on the cat
#   image it already hesitates between cat and dog at T = 1. On the automobile it is sure
#   (about 95 %) and its little remaining mass goes to truck; at T = 3 that second choice
#   becomes a visible part of the target (about 19 %). This ranking of the wrong classes is
#   the dark knowledge.
# - A teacher also passes on its mistakes: on the dog image ours prefers bird and airplane.
#   Soft targets are only as good as the network that makes them.
# - Without T² (dashed), the loss and its gradient fall steeply with T: the gradient shrinks
#   about 80-fold between T = 1 and T = 10. With T², the gradient stays near 0.55 from T = 2
#   to T = 10, on the scale of the cross-entropy gradient (green).
# - With T², the loss levels off as T grows: in that limit it measures the distance between
#   the two models' *logits* (Hinton et al.'s high-temperature limit), no longer between
#   their probabilities.
#
# The same numbers for a few temperatures, as a table:

# %%
app.sweep.set_index("T").loc[[0.5, 1.0, 2.0, 3.0, 5.0, 10.0]].round(4)

# %% [markdown]
# **Try it**
# - Replace the student by a network trained for more epochs (`epochs=3`): how do the loss
#   curves move, and where do the two models' soft targets still differ?
# - Compute `kd_loss(student, teacher, T)` with the two models swapped. KL is not
#   symmetric: which direction is larger here, and why?
# - Set the slider to T = 0.5: what does the teacher's target look like, and what would the
#   student learn from it that the label does not already say?
#
# **Honest scale note.** These are a ResNet-8 trained for a couple of minutes on 4,085
# CIFAR-10 images (the quick profile), at about 53 % top-1; a ResNet-32 trained on the full
# CIFAR-10 is above 90 % (94.17 ± 0.15 % for an OKDDip-trained one in the PCL paper's
# re-runs), and typically far more confident at T = 1. The *shapes* of the curves (1/T²
# without the factor, flat with it) are properties of the loss and do not depend on scale;
# the exact values do.
#
# **Next**: [notebook 02](02_online_distillation.ipynb) uses this loss between peers that
# learn together (DML, CL-ILR, ONE), with no pre-trained teacher at all;
# [notebook 03](03_attention_aggregator.ipynb) builds OKDDip's per-peer targets.
