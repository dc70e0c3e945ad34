"""Telling a storage outage from a bad record, and waiting out the outage.

A write can fail for two reasons that need opposite answers:

* the *storage* is at fault (SQLite locked by another writer, a full disk, PostgreSQL
  restarting or unreachable): nothing is wrong with the posts, so they are kept and the
  write is tried again, for as long as it takes — never acknowledged, never dropped;
* the *data* is at fault (a number out of the column's range, text the driver refuses):
  trying again gives the same answer, so the caller isolates the record and rejects it.

Anything not recognised as a data fault counts as a storage fault: waiting on a fault we do
not know is safe (the metrics and ``/readyz`` show it), dropping posts on one is not.

>>> data_fault(OverflowError("Python int too large to convert to SQLite INTEGER"))
True
>>> data_fault(ConnectionRefusedError(111, "Connect call failed"))
False
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import exc as sa

__all__ = ["RETRY_CAP", "Backoff", "data_fault", "describe"]

RETRY_CAP = 30.0  # seconds: the longest wait between two tries of a failing write

# SQLSTATE classes that blame the statement's data: 22 data exception, 23 integrity violation
_DATA_SQLSTATES = ("22", "23")


def data_fault(exc: BaseException) -> bool:
    """True when retrying ``exc`` with the same data cannot succeed (a poison record)."""
    if isinstance(exc, sa.DataError | sa.IntegrityError):
        return True
    if isinstance(exc, sa.DBAPIError):
        return _sqlstate(exc.orig).startswith(_DATA_SQLSTATES)
    if isinstance(exc, sa.StatementError):
        # raised while binding parameters, before the database saw anything
        return exc.orig is not None and data_fault(exc.orig)
    if isinstance(exc, OSError):
        return False  # EFBIG, ENOSPC, ECONNREFUSED…: the storage, not the data
    return isinstance(exc, ArithmeticError | ValueError | TypeError)


def describe(exc: BaseException) -> str:
    """One line for the log: SQLAlchemy's own message carries the statement and its parameters."""
    err = getattr(exc, "orig", None) or exc
    lines = str(err).splitlines()
    return f"{type(err).__name__}: {lines[0][:200] if lines else ''}"


def _sqlstate(orig: BaseException | None) -> str:
    seen = 0
    while orig is not None and seen < 4:  # asyncpg's error may sit behind SQLAlchemy's adapter
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if isinstance(state, str):
            return state
        orig = orig.__cause__
        seen += 1
    return ""


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with jitter, capped at ``cap`` seconds.

    >>> b = Backoff(base=1.0, cap=4.0)
    >>> [d / 2 <= b.next_delay() <= d for d in (1, 2, 4, 4)]
    [True, True, True, True]
    """

    base: float = 0.5
    cap: float = RETRY_CAP
    attempt: int = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0
