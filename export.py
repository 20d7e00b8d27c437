#!/usr/bin/env python3
"""Export every result with every registered metric to CSV.

    python export.py -o results.csv
    python export.py -o scifact.csv --dataset scifact-minilm --count 100
"""

import sys

from topobench.cli.main import export_main

if __name__ == "__main__":
    sys.exit(export_main())
