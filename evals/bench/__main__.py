"""`python -m evals.bench`: see `evals.bench.harness.main`."""

import sys

from evals.bench.harness import main

sys.exit(main())
