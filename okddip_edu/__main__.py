"""``python -m okddip_edu`` is the ``okddip-edu`` command."""

import sys

from .cli import main

sys.exit(main())
