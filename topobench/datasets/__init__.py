"""ann-benchmarks HDF5 datasets: names, reading and writing, synthetic builders, geometry statistics, texts."""
