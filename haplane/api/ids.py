"""The random names the API hands out on every write: object uids, request ids, generateName suffixes.

From one process-local generator seeded by the OS (reseeded in a forked child), not from
``os.urandom`` per call: under write load the replica's profile showed 8–10 % of the leader's
samples in ``uuid4``/``secrets.choice`` (seven ``getrandom`` calls per create), far more than the
0.3 µs a call costs in a quiet process (why is not established: see the README). None of these is a
secret: they must be unique (122 random bits for a uid or request id) and, for a suffix, unlikely
to collide, as Kubernetes' own generateName (math/rand) is.
"""

from __future__ import annotations

import os
import random
import string
import uuid

_ALPHABET = string.ascii_lowercase + string.digits
_rng = random.Random()


def _reseed() -> None:
    _rng.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def new_uid() -> str:
    """A random (version 4) UUID, as text."""
    return str(uuid.UUID(int=_rng.getrandbits(128), version=4))


def suffix(length: int = 5) -> str:
    """generateName's random suffix."""
    return "".join(_rng.choices(_ALPHABET, k=length))
