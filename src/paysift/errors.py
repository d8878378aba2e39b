"""Exceptions raised by paysift.

* PaysiftError
  + ModelError          a model file is missing, corrupt, tampered with or incompatible
  + TrainingDataError   a training file cannot be parsed or breaks a corpus rule
  + WorkerError         a worker process of classify_many(n_jobs > 1) died or could not start
"""

from __future__ import annotations


class PaysiftError(Exception):
    """Base class of every error paysift raises on purpose."""


class ModelError(PaysiftError):
    """A model cannot be loaded or written; the message names the file and the problem."""


class TrainingDataError(PaysiftError):
    """Training data is unusable; ``problems`` holds one ``path:line: message`` per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        shown = "\n".join(self.problems[:20])
        more = len(self.problems) - 20
        super().__init__(shown + (f"\n... and {more} more problems" if more > 0 else ""))


class WorkerError(PaysiftError):
    """A worker process of ``classify_many(n_jobs > 1)`` died or could not be started."""
