"""Step a running replica's wall clock, and only its wall clock (test-only).

A preload library (built here with ``cc``, once per run) wraps ``clock_gettime`` for the
realtime clocks, ``gettimeofday`` and ``time``: each returns the system's answer plus an
offset read from the file named by ``$HAPLANE_WALL_OFFSET_FILE`` (whole milliseconds as text;
re-read at most every 20 ms). Every layer above the C library — Python's ``time.time()`` and
``datetime.now()``, pysyncobj, OpenSSL — sees the step; the monotonic clocks, sleeps and
timed waits are untouched, as on a real host whose clock is stepped.

Why not libfaketime: 0.9.10 (Debian 12) with ``FAKETIME_DONT_FAKE_MONOTONIC=1`` makes
``clock_nanosleep`` fail with EINVAL, so Python's ``time.sleep`` raises at any offset; without
that variable it steps the monotonic clock too, which is not what a stepped host does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

OFFSET_ENV = "HAPLANE_WALL_OFFSET_FILE"

SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*gettime_fn)(clockid_t, struct timespec *);
static gettime_fn real_gettime;
static const char *offset_path;
static int64_t offset_ns, next_read_ns;

static gettime_fn real(void) {
    if (!real_gettime) {
        real_gettime = (gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
        offset_path = getenv("HAPLANE_WALL_OFFSET_FILE");
    }
    return real_gettime;
}

static int64_t offset(void) {
    struct timespec m;
    if (!offset_path || real()(CLOCK_MONOTONIC, &m) != 0) return 0;
    int64_t now = (int64_t)m.tv_sec * 1000000000LL + m.tv_nsec;
    if (now >= __atomic_load_n(&next_read_ns, __ATOMIC_RELAXED)) {
        __atomic_store_n(&next_read_ns, now + 20000000LL, __ATOMIC_RELAXED);
        char buf[32];
        int fd = open(offset_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n > 0) {
                int64_t ms = 0, sign = 1;
                ssize_t i = 0;
                if (buf[0] == '-') { sign = -1; i = 1; }
                for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) ms = ms * 10 + (buf[i] - '0');
                __atomic_store_n(&offset_ns, sign * ms * 1000000LL, __ATOMIC_RELAXED);
            }
        }
    }
    return __atomic_load_n(&offset_ns, __ATOMIC_RELAXED);
}

static void shift(struct timespec *ts) {
    int64_t t = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec + offset();
    ts->tv_sec = t / 1000000000LL;
    ts->tv_nsec = t % 1000000000LL;
    if (ts->tv_nsec < 0) { ts->tv_nsec += 1000000000LL; ts->tv_sec -= 1; }
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    int rc = real()(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) shift(ts);
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -1;
    if (tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
    return 0;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}
"""


def build(directory: str) -> str:
    """Compile the preload library into ``directory`` (kept by the source's hash); its path."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("stepping a replica's wall clock needs a C compiler (cc): apt-get install gcc")
    os.makedirs(directory, exist_ok=True)
    digest = hashlib.sha256(SOURCE.encode()).hexdigest()[:12]
    lib = os.path.join(directory, f"wallclock-{digest}.so")
    if not os.path.exists(lib):
        src = lib[:-3] + ".c"
        with open(src, "w", encoding="utf-8") as f:
            f.write(SOURCE)
        subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", lib + ".tmp", src, "-ldl"], check=True,
                       capture_output=True, timeout=60)
        os.replace(lib + ".tmp", lib)
    return lib


def env_for(lib: str, offset_file: str) -> dict[str, str]:
    """The environment that puts a process on a steppable wall clock (offset 0 to begin with)."""
    if not os.path.exists(offset_file):
        write_offset(offset_file, 0.0)
    return {"LD_PRELOAD": lib, OFFSET_ENV: offset_file}


def write_offset(offset_file: str, seconds: float) -> None:
    """Step the wall clock of every process reading ``offset_file`` to system time + ``seconds``
    (in force within 20 ms)."""
    tmp = offset_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{round(seconds * 1000)}\n")
    os.replace(tmp, offset_file)
