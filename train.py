#!/usr/bin/env python3
"""Fine-tune an encoder with a loss through a curriculum of hard-negative miners (see ``python train.py --help``).

    python train.py --corpus scifact --encoder minilm --recipe topo
    python train.py --corpus scifact --encoder minilm --loss infonce --stage in_batch:epochs=2 --output runs/quick
"""

import sys

from topobench.cli.train import train_main

if __name__ == "__main__":
    sys.exit(train_main())
