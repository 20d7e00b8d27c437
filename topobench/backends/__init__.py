"""Helpers shared by plugins, one backend library each: faiss (the faiss index base), Java/Pyserini, Hugging Face
transformers (the encoder base), and the corpus-embedding cache that the model miner and dev evaluation share."""
