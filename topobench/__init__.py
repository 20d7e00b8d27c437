"""topobench: how the way a dense retriever is trained changes how well ANN indexes serve its embeddings."""

import logging
import os

__version__ = "0.1.0"

# OpenMP threads that spin while waiting (libgomp's default) slow faiss builds by up to 10x when another process
# shares these few cores; sleeping waiters cost a few microseconds per parallel region instead. Set before faiss is
# imported; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Libraries whose INFO lines are import chatter, not progress: faiss's loader logs nine lines ("Could not load library
# with AVX512 support …", "Loading faiss with AVX2 support") each time a process imports faiss. Every process that
# imports faiss through topobench imports this package first (the sweep's spawned children included), so setting the
# level here keeps them out of every log; warnings still show.
QUIET_LOGGERS = ("faiss.loader",)
for _name in QUIET_LOGGERS:
    logging.getLogger(_name).setLevel(logging.WARNING)
