"""Progress of long CLI work: a live display on a terminal, plain lines everywhere else.

Commands (``rollout status``, ``drain``, ``up``, ``chaos run``, ``get -w``) talk to a
:class:`Reporter`, never to rich directly. :func:`make_reporter` picks the implementation once,
from the output stream:

* :class:`PlainReporter` when the stream is not a terminal (a pipe, a file, CI, ``TERM=dumb``):
  one line per change, no ANSI codes, the same lines the commands printed before this module,
  so scripts and tests that read them keep working;
* :class:`LiveReporter` on a terminal: a rich ``Live`` area at the bottom (spinner, the current
  status, a bar of ``done/total``, the elapsed time) redrawn in place, optionally a block above
  it redrawn as a whole (``get -w``'s table); permanent lines (``note``) scroll above it. The
  live area is transient: when the reporter closes it disappears and only the notes remain.

The reporter methods:

``note(text)``
    a permanent line (printed as is in plain mode);
``status(text, done=, total=, detail=, since=, plain=)``
    the current state. Plain mode prints ``plain`` (default ``text``) when it differs from the
    last status line printed; ``plain=""`` prints nothing. Live mode redraws it with a bar when
    ``total`` is given and the time since ``since`` (a ``time.monotonic()``; default: the
    reporter's start);
``stage(text, plain=)``
    a context manager for one step of a sequence (``haplane up``): live, a spinner while it runs,
    then ``✓ text (1.2s)`` (or ``✗``) as a note; plain, the line ``plain`` (default ``text``) as it
    begins;
``finish(text)``
    the status is over: drop it and print ``text`` as a note;
``show(block)``
    live only: replace the redrawn block (a multi-line string); plain reporters print nothing
    here: the callers print their own line per change.

The pure helpers (:func:`bar_text`, :func:`elapsed_text`, :func:`spinner_frame`) are what the
live display draws; they are unit-tested without a terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
BAR_WIDTH = 24


# ----------------------------------------------------------------------------- pure helpers


def elapsed_text(seconds: float) -> str:
    """``4.2s`` under a minute, ``3m05s`` under an hour, ``1h02m`` after."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.1f}s"
    m, sec = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def bar_text(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """``━━━━━━━━────────────── 3/8``: ``done`` of ``total`` (clamped to 0..total; total 0 = full)."""
    total = max(0, total)
    done = min(max(0, done), total)
    filled = width if total == 0 else width * done // total
    return f"{'━' * filled}{'─' * (width - filled)} {done}/{total}"


def spinner_frame(t: float) -> str:
    """The spinner's character at time ``t`` (ten frames a second)."""
    return SPINNER[int(t * 10) % len(SPINNER)]


def is_live_terminal(stream: Any, env: dict[str, str] | None = None) -> bool:
    """Whether ``stream`` is a terminal that can redraw (not ``TERM=dumb``)."""
    env = os.environ if env is None else env
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
    return tty and env.get("TERM", "") != "dumb"


# ----------------------------------------------------------------------------- reporters


class Reporter:
    """What commands call. Use as a context manager: ``with make_reporter() as rep: ...``."""

    live = False

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def note(self, text: str) -> None:
        raise NotImplementedError

    def status(self, text: str, *, done: int | None = None, total: int | None = None, detail: str = "",
               since: float | None = None, plain: str | None = None) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def stage(self, text: str, *, plain: str | None = None) -> Iterator[None]:
        raise NotImplementedError
        yield  # pragma: no cover

    def finish(self, text: str) -> None:
        self.note(text)

    def show(self, block: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class PlainReporter(Reporter):
    """One line per change on ``stream``; nothing redrawn, no escape codes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._last_status: str | None = None

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def note(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def status(self, text: str, *, done: int | None = None, total: int | None = None, detail: str = "",
               since: float | None = None, plain: str | None = None) -> None:
        line = text if plain is None else plain
        if line and line != self._last_status:
            self.note(line)
            self._last_status = line

    @contextlib.contextmanager
    def stage(self, text: str, *, plain: str | None = None) -> Iterator[None]:
        line = text if plain is None else plain
        if line:
            self.note(line)
        yield

    def show(self, block: str) -> None:
        pass


class LiveReporter(Reporter):
    """A rich ``Live`` area on a terminal (started lazily, at the first status, stage or block)."""

    live = True

    def __init__(self, stream: TextIO | None = None, refresh_per_second: float = 10) -> None:
        from rich.console import Console

        self._console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=False)
        self._refresh = refresh_per_second
        self._live: Any = None
        self._t0 = time.monotonic()
        self._text = ""
        self._done: int | None = None
        self._total: int | None = None
        self._detail = ""
        self._since: float | None = None
        self._block = ""
        self._active = False  # a status line is shown

    def _start(self) -> None:
        if self._live is None:
            from rich.live import Live

            self._live = Live(console=self._console, refresh_per_second=self._refresh, transient=True,
                              get_renderable=self._render, redirect_stdout=True, redirect_stderr=True)
            self._live.start()

    def _render(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        parts: list[Any] = []
        if self._block:
            parts.append(Text(self._block, no_wrap=True, overflow="ellipsis"))
        if self._active:
            # One line of spinner, bar, time and text, cut (never wrapped) at the terminal's width;
            # the detail on a second line.
            now = time.monotonic()
            since = self._since if self._since is not None else self._t0
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(spinner_frame(now) + " ", style="cyan")
            if self._total is not None:
                filled, _, count = bar_text(self._done or 0, self._total).partition(" ")
                line.append(filled.rstrip("─"), style="green")
                line.append(filled[len(filled.rstrip("─")):], style="dim")
                line.append(f" {count}  ")
            line.append(elapsed_text(now - since), style="dim")
            if self._since is not None and abs(self._since - self._t0) > 0.05:
                line.append(f" (total {elapsed_text(now - self._t0)})", style="dim")
            line.append("  ")
            line.append(self._text, style="bold")
            parts.append(line)
            if self._detail:
                parts.append(Text(f"  {self._detail}", style="dim", no_wrap=True, overflow="ellipsis"))
        return Group(*parts)

    def note(self, text: str) -> None:
        from rich.text import Text

        self._console.print(Text(text), soft_wrap=True)

    def status(self, text: str, *, done: int | None = None, total: int | None = None, detail: str = "",
               since: float | None = None, plain: str | None = None) -> None:
        self._text, self._done, self._total, self._detail, self._since = text, done, total, detail, since
        self._active = True
        self._start()
        self._live.refresh()

    @contextlib.contextmanager
    def stage(self, text: str, *, plain: str | None = None) -> Iterator[None]:
        t = time.monotonic()
        self.status(text, since=t)
        try:
            yield
        except BaseException:
            self.finish(f"✗ {text} ({elapsed_text(time.monotonic() - t)})")
            raise
        self.finish(f"✓ {text} ({elapsed_text(time.monotonic() - t)})")

    def finish(self, line: str) -> None:
        self._active = False
        if self._live is not None:
            self._live.refresh()  # Live redraws its last frame after a print: make it the one without the status
        self.note(line)

    def show(self, block: str) -> None:
        self._block = block
        self._start()
        self._live.refresh()

    def close(self) -> None:
        """Stop redrawing; the last block (``get -w``'s table) stays on the screen."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._active = False
        if self._block:
            self.note(self._block)
            self._block = ""


def make_reporter(stream: TextIO | None = None) -> Reporter:
    """A :class:`LiveReporter` when ``stream`` (default stdout) is a terminal, else a
    :class:`PlainReporter`. Chosen once, here."""
    s = stream or sys.stdout
    return LiveReporter(s) if is_live_terminal(s) else PlainReporter(s)
