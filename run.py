#!/usr/bin/env python3
"""Run the benchmark grid of algos.yaml on a dataset.

    python run.py --dataset random-xs-20-angular --runs 1          # every enabled algorithm
    python run.py --dataset random-xs-20-angular --algorithm hnsw,ivf --count 10 --batch
    python run.py --dataset scifact-minilm --count 100 --timeout 600
    python run.py --list                                           # plugins and availability
    python run.py --dataset scifact-minilm --algorithm hnsw --count 100 --save-index 32,200   # kept for serve.py
"""

import sys

from topobench.cli.main import run_main

if __name__ == "__main__":
    sys.exit(run_main())
