"""The error of a configuration that cannot run, below both the validator (:mod:`cotrepro.config`)
and the run plan (:mod:`cotrepro.plan`), which raise it."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem, with a message that names what to fix."""


def allowed(values) -> str:
    """The allowed values of a config key, as an error message lists them."""
    return ", ".join(str(v) for v in values)
