"""``python -m okddip_edu`` is the ``okddip-edu`` command."""

import sys

from ._entry import main

sys.exit(main())
