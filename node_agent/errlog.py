"""Log each distinct error once per episode, so a loop that keeps failing does not flood the log.

A loop reports ``failed(where, exc)`` on every error and ``ok(where)`` on every success. The
first error of a kind (``where`` + exception class + the first line of its message, digits
masked so ports and counters do not make every error "new") is logged at WARNING; repeats
are counted silently; the next ``ok`` logs one INFO line "recovered after N errors" and
re-arms. Pure bookkeeping around :mod:`logging`; use from one thread (the event loop).
"""

from __future__ import annotations

import logging
import re

_DIGITS = re.compile(r"\d+")


def error_kind(exc: BaseException) -> str:
    """The class of ``exc`` and the first line of its message with every number masked."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {_DIGITS.sub('N', text)[:160]}"


class OnceLogger:
    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._seen: dict[str, set[str]] = {}
        self._counts: dict[str, int] = {}

    def failed(self, where: str, exc: BaseException | str, *, level: int = logging.WARNING) -> bool:
        """Record an error; return True if it was logged (its kind is new in this episode)."""
        kind = exc if isinstance(exc, str) else error_kind(exc)
        kinds = self._seen.setdefault(where, set())
        self._counts[where] = self._counts.get(where, 0) + 1
        if kind in kinds:
            return False
        kinds.add(kind)
        self.logger.log(level, "%s: %s", where, exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}")
        return True

    def ok(self, where: str) -> None:
        """``where`` succeeded: end its error episode (one INFO line if there was one)."""
        if self._seen.pop(where, None):
            self.logger.info("%s: recovered after %d error(s)", where, self._counts.pop(where, 0))

    def failing(self, where: str) -> bool:
        return bool(self._seen.get(where))
