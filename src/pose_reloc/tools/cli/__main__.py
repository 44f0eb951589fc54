"""`python -m pose_reloc.tools.cli ...`: the same as `pose-reloc ...`."""

import sys

from pose_reloc.tools.cli import main

if __name__ == "__main__":  # imported by name (as the layering test does), it runs nothing
    sys.exit(main())
