"""``okddip-edu data``: fetch and verify datasets up front, so a lesson never waits on them.

    okddip-edu data cifar10-5k        # CIFAR-10 (170 MB) once, then the 5,085-image cut
    okddip-edu data cifar10 cifar100 --root /big/disk/data

Downloads go through torchvision (checksummed, with a progress bar) into the data root
(``--root``, else ``$OKDDIP_DATA``, else ``./data``). ``cifar10-5k`` is then cut and its
content checked against the definition (:mod:`.subset`); an ``.npz`` named by
``$OKDDIP_CIFAR10_5K`` or ``--npz`` is checked instead. Prints where each dataset is.
"""

from __future__ import annotations

import argparse

from . import subset
from .sources import data_root, load_cifar, load_npz

DATASETS = ("cifar10-5k", "cifar10", "cifar100")


def verify_subset(path) -> str:
    """The content digest of a cifar10-5k file; raises when it is not the definition's."""
    x, y = load_npz(path)  # one line for a file that is not an .npz of x and y
    digest = subset.content_digest(x.numpy(), y.numpy())
    if digest != subset.CONTENT_SHA256:
        raise subset.DataUnavailableError(
            f"{path} is not cifar10-5k: its content sha256 is {digest}, the definition's is "
            f"{subset.CONTENT_SHA256}; delete it and run: okddip-edu data cifar10-5k")
    return digest


def cmd_data(args: argparse.Namespace) -> int:
    root = data_root(args.root)
    names = args.datasets or ["cifar10-5k"]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise ValueError(f"dataset {unknown[0]!r} is not valid; choose from: {', '.join(DATASETS)}")
    for name in names:
        if name == "cifar10-5k":
            path = subset.locate(root, args.npz)
            verify_subset(path)
            print(f"cifar10-5k: {path} (5,085 images, content verified)")
        else:
            splits = load_cifar(name, root, download=True)
            print(f"{name}: {root} ({len(splits.train_y):,} training, {len(splits.val_y):,} "
                  "test images)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("data", help="download and verify datasets up front",
                       description="Fetch datasets into the data root and check them; "
                       "cifar10-5k is cut from CIFAR-10 and verified against its definition.")
    p.add_argument("datasets", nargs="*",
                   metavar="DATASET", help=f"{', '.join(DATASETS)} (default: cifar10-5k)")
    p.add_argument("--root", help="data folder (default: $OKDDIP_DATA or ./data)")
    p.add_argument("--npz", help="a cifar10-5k .npz to verify instead of the data root's")
    p.set_defaults(func=cmd_data)
