"""Helpers shared by plugins for one backend library each (faiss, Java/Pyserini, Hugging Face transformers)."""
