"""``python -m bnn2hw.cli``: the command line (``bnn2hw.cli.main``)."""

import sys

from bnn2hw.cli import main

sys.exit(main())
