"""Log lines as text or as JSON (one object per line), with the request id of the write being served.

The API middleware sets :data:`request_id` from ``X-Request-Id`` for every request, and the
resource handlers set it to the full id a write carries into the Raft log (``user:id``, see
``haplane.api.resources._rid``); every line logged in that request's task then carries it, so
one write can be followed across replicas by grepping its id. Lines logged elsewhere (the
tick thread, control loops) carry none.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

FORMATS = ("text", "json")
request_id: ContextVar[str | None] = ContextVar("haplane_request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Stamp ``record.request_id`` from the context (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ["requestId"], ["process"], ["exception"]}`` per line."""

    def __init__(self, process: str | None = None) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            out["requestId"] = rid
        if self.process:
            out["process"] = self.process
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


class TextFormatter(logging.Formatter):
    """The classic line, with `` [rid=...]`` appended while serving a write."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{line} [rid={rid}]" if rid is not None else line


def add_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-format", choices=FORMATS, default=os.environ.get("HAPLANE_LOG_FORMAT", "text"),
                   help="text lines, or one JSON object per line (default text; env HAPLANE_LOG_FORMAT)")


def setup(level: str, fmt: str, *, process: str | None = None) -> None:
    """Configure the root logger: stderr, ``fmt`` in FORMATS."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter(process))
    else:
        prefix = f"{process} " if process else ""
        handler.setFormatter(TextFormatter(f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
