"""`python -m agents.cli`, the same as `ray-agents`."""

import sys

from agents.cli import main

sys.exit(main())
