"""Command-line entry points behind run.py, plot.py, export.py, train.py and serve.py."""
