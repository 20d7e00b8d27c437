#!/usr/bin/env python3
"""Export every result with every registered metric to CSV, or one result as a TREC run file.

    python export.py -o results.csv
    python export.py -o scifact.csv --dataset scifact-minilm --count 100
    python export.py --trec hnsw.run --dataset scifact-minilm --algorithm hnsw --params 32,200 --query-args 80
    python export.py --trec hnsw.run --point results/scifact-minilm/100/hnsw/32_200_80-….hdf5
"""

import sys

from topobench.cli.main import export_main

if __name__ == "__main__":
    sys.exit(export_main())
