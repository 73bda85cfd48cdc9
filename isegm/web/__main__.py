"""``python -m isegm.web``: see :mod:`isegm.web.cli`."""
import sys

from isegm.web.cli import main

sys.exit(main())
