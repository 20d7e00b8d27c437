#!/usr/bin/env python3
"""Draw Pareto frontiers from results/.

    python plot.py                                                  # every dataset with results: plots/<dataset>_…png
    python plot.py --dataset random-xs-20-angular -o p.png
    python plot.py --dataset scifact-minilm -x ndcg@10 -y qps --count 100
    python plot.py --dataset scifact-minilm --dataset scifact-minilm-topo --raw
    python plot.py --report report/                                 # HTML: index.html + a page per dataset
"""

import sys

from topobench.cli.main import plot_main

if __name__ == "__main__":
    sys.exit(plot_main())
