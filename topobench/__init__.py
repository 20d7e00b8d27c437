"""topobench: how the way a dense retriever is trained changes how well ANN indexes serve its embeddings."""

import os

__version__ = "0.1.0"

# OpenMP threads that spin while waiting (libgomp's default) slow faiss builds by up to 10x when another process
# shares these few cores; sleeping waiters cost a few microseconds per parallel region instead. Set before faiss is
# imported; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
