"""The trainer, its configuration, data, curriculum recipes, checkpoints and dev evaluation."""
