"""The metric registry (k-NN, task, speed, cost) and how a result is scored against its dataset."""
