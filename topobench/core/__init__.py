"""The bottom layer: errors, atomic writes, the plugin interfaces (encoder, index, loss, miner), the registry and
exact distances. Imports nothing else from topobench."""
