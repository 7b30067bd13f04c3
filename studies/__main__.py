"""``python -m studies``: see studies.runner."""

import sys

from studies.runner import main

sys.exit(main())
