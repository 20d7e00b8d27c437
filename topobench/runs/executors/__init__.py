"""Executors: where and how the runner's units of work (one definition's pending points each) run.

:mod:`topobench.runs.executors.base` holds the interface (:class:`Executor`, :class:`Unit`, :class:`Outcome`);
:mod:`topobench.runs.executors.local` runs each unit in a spawned process on this machine (the default).
"""
