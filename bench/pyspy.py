"""py-spy around a benchmark: sample a process for a while, then say where its time went.

``record`` starts ``py-spy record --format raw`` (collapsed stacks, one line per distinct stack
with its sample count); ``summarize`` turns such
a file into the top frames by self time (the frame on top of the stack) and by inclusive time
(the frame anywhere on it), each as a share of all samples. Idle threads are not sampled, so the
shares are of the process's busy time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter


def pyspy_binary() -> str:
    """py-spy next to this interpreter (the venv), else on PATH."""
    for cand in (sys.executable.rsplit("/", 1)[0] + "/py-spy", shutil.which("py-spy")):
        if cand and shutil.which(cand):
            return cand
    raise RuntimeError("py-spy is not installed (pip install py-spy)")


def record(pid: int, seconds: float, out: str, rate: int = 100, gil: bool = False) -> subprocess.Popen:
    """Blocking sampling (the target paused for each sample): ``--nonblocking`` reads stacks as
    they change, drops the torn ones and so over-counts frames parked in C calls. ``gil``: only
    the thread holding the GIL (where the interpreter's CPU goes)."""
    return subprocess.Popen([pyspy_binary(), "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
                             "--rate", str(rate), "--format", "raw", "--threads", "-o", out]
                            + (["--gil"] if gil else []),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_LINE = re.compile(r"^(.*) (\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")


def _frame_name(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file.py)``: lines merged, the path shortened."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m["file"]
    for marker in ("site-packages/", "python3.11/", "/haplane/", "/node_agent/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker in ("/haplane/", "/node_agent/"):
                path = marker.strip("/") + "/" + path
            break
    return f"{m['func']} ({path})"


def summarize(raw_path: str, top: int = 25) -> str:
    self_c: Counter[str] = Counter()
    incl_c: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    thread_frames: dict[str, Counter[str]] = {}
    total = 0
    with open(raw_path) as f:
        for line in f:
            m = _LINE.match(line.rstrip("\n"))
            if not m:
                continue
            n = int(m[2])
            frames = [_frame_name(fr) for fr in m[1].split(";")]
            # With --threads the first entry is the thread ("thread (0x...)"), then outermost first.
            thread = frames.pop(0) if frames and frames[0].startswith("thread ") else "?"
            if not frames:
                continue
            threads[thread] += n
            # A thread is known by its frame 4 deep (the event loop's run_forever, pysyncobj's tick loop).
            thread_frames.setdefault(thread, Counter())[frames[min(3, len(frames) - 1)]] += n
            total += n
            self_c[frames[-1]] += n
            for fr in set(frames):
                incl_c[fr] += n
    lines = [f"samples: {total}", "", "by thread (% of samples):"]
    lines += [f"{100 * n / total:6.1f}  {t}: {thread_frames[t].most_common(1)[0][0]}"
              for t, n in threads.most_common()] if total else []
    lines += ["", f"top {top} by self time (% of samples):"]
    lines += [f"{100 * n / total:6.1f}  {fr}" for fr, n in self_c.most_common(top)] if total else []
    lines += ["", f"top {top} by inclusive time (% of samples):"]
    lines += [f"{100 * n / total:6.1f}  {fr}" for fr, n in incl_c.most_common(top)] if total else []
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(summarize(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25))
