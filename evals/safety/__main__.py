"""`python -m evals.safety`: see `evals.safety.harness.main`."""

import sys

from evals.safety.harness import main

sys.exit(main())
