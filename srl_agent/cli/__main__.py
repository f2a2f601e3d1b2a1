"""`python -m srl_agent.cli ...` is the `srl` command."""

import sys

from srl_agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
