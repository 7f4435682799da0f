"""Draw the OKDDip group: shared trunk, peers, leader, attention and the two distillation levels.

    python tools/draw_group_diagram.py [--out assets/okddip_group]

Writes OUT.png and OUT.svg (matplotlib only, no other tool). The SVG carries no date and
fixed ids, so redrawing an unchanged diagram leaves both files unchanged. Notebooks 00 and
04 show it.

Notation: alpha_ab are the attention weights; the weight of the distillation terms is
lambda (the config field ``alpha``): L = L_gt + lambda w(e) (L_dis1 + L_dis2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

TRUNK, PEER, LEADER, ATT, LOSS = "#dfe7f2", "#e3f1df", "#fbe3c8", "#efe0f5", "#f6f6f6"


def box(ax, x, y, w, h, text, color, size=9, weight="normal"):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=color, ec="#555555", lw=1))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size,
            weight=weight)


def arrow(ax, a, b, color="#555555", style="-|>", lw=1.2, ls="-", rad=0.0):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=10, color=color,
                                 lw=lw, ls=ls, connectionstyle=f"arc3,rad={rad}"))


def draw(out: Path) -> None:
    fig, ax = plt.subplots(figsize=(10, 5.4))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5.4)
    ax.axis("off")
    box(ax, 0.1, 2.2, 1.0, 1.0, "image\nx", "white")
    box(ax, 1.5, 1.9, 1.5, 1.6, "shared trunk\n(low-level layers)\n\nstem + stages 1-2",
        TRUNK, weight="bold")
    arrow(ax, (1.1, 2.7), (1.5, 2.7))
    ys = [4.2, 3.1, 2.0]
    for i, y in enumerate(ys):
        box(ax, 3.5, y, 1.6, 0.8, f"peer {i + 1}\nstage 3 + head", PEER)
        arrow(ax, (3.0, 2.7), (3.5, y + 0.4), rad=0.0)
        ax.text(5.2, y + 0.72, f"$h_{i + 1}$, $z_{i + 1}$", fontsize=9)
    box(ax, 3.5, 0.5, 1.6, 0.8, "group leader\nstage 3 + head", LEADER, weight="bold")
    arrow(ax, (3.0, 2.7), (3.5, 0.9))
    ax.text(5.2, 1.38, "$z_{leader}$ (deployed)", fontsize=9)
    box(ax, 6.3, 3.0, 1.9, 2.0, "attention\n$q_a = W_q h_a$, $k_b = W_k h_b$\n"
        "$\\alpha_{ab}$ = softmax$_b(q_a \\cdot k_b)$\n$t_a = \\sum_b \\alpha_{ab} z_b$",
        ATT, size=8.5)
    for y in ys:
        arrow(ax, (5.1, y + 0.4), (6.3, 4.0), color="#7a4f96", lw=0.9)
    box(ax, 8.4, 3.5, 1.5, 1.0, "level 1\n$KL_T(t_a \\to z_a)$\neach peer its\nown target", LOSS,
        size=8)
    arrow(ax, (8.2, 4.0), (8.4, 4.0), color="#7a4f96")
    box(ax, 6.3, 0.9, 1.9, 1.3, "peer ensemble\n$\\bar z = \\frac{1}{m} \\sum_a z_a$", LOSS,
        size=8.5)
    for y in ys:
        arrow(ax, (5.1, y + 0.2), (6.3, 1.6), color="#c07020", lw=0.9, ls="--")
    box(ax, 8.4, 0.6, 1.5, 1.0, "level 2\n$KL_T(\\bar z \\to z_{leader})$", LOSS, size=8)
    arrow(ax, (8.2, 1.5), (8.4, 1.2), color="#c07020")
    arrow(ax, (5.1, 0.75), (8.4, 0.75), color="#c07020", rad=-0.08)  # the leader is the student
    ax.text(0.1, 0.15, "every branch also learns the labels: $L_{gt} = \\sum CE(z, y)$;   "
            "$L = L_{gt} + \\lambda\\, w(e)\\,(L_{dis1} + L_{dis2})$,  T = 3\n"
            "$\\lambda$: weight of the distillation terms (the config field $\\mathtt{alpha}$); "
            "$\\alpha_{ab}$: attention weights", fontsize=9)
    ax.set_title("OKDDip: m = 3 auxiliary peers and one group leader on a shared trunk "
                 "(Chen et al., AAAI 2020)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".png"), dpi=130)
    with matplotlib.rc_context({"svg.hashsalt": "okddip_group"}):  # fixed element ids
        fig.savefig(out.with_suffix(".svg"), metadata={"Date": None})
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("assets/okddip_group"))
    draw(p.parse_args().out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
