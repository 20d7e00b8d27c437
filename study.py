#!/usr/bin/env python3
"""Studies: grids of trained variants × seeds, with spread, significance and the figures (docs/STUDIES.md).

    python study.py list
    python study.py run w-sweep --cells minilm-topo@weight=0.0 minilm-topo@weight=1.0
    python study.py status w-sweep
    python study.py report w-sweep            # from the committed cell files alone
"""

import sys

from topobench.cli.study import study_main

if __name__ == "__main__":
    sys.exit(study_main())
