"""Errors a user can cause. The CLI prints their message as one line and exits non-zero."""


class TopobenchError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


class PluginError(TopobenchError):
    """A plugin could not be registered (duplicate name, bad registration)."""


class UnknownNameError(TopobenchError):
    """An algorithm, dataset, encoder, loss or miner name that nothing registered."""


class UnavailableError(TopobenchError):
    """A registered plugin that cannot run here (its library, runtime or weights are missing); the message says why."""


class ConfigError(TopobenchError):
    """A malformed algos.yaml (or other configuration) entry."""


class NoResultsError(TopobenchError):
    """Nothing to score, plot or export for what was asked; the message names the command that produces results."""


class DatasetError(TopobenchError):
    """A dataset that cannot be built, found or read."""
