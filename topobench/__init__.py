"""topobench: how the way a dense retriever is trained changes how well ANN indexes serve its embeddings."""

__version__ = "0.1.0"
