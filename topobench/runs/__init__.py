"""The harness: algos.yaml definitions, the runner (build once, sweep, time), result files, saved indexes."""
