"""haplane.api.ids: uids, request ids and generateName suffixes from a process-local generator."""

from __future__ import annotations

import os
import uuid

from haplane.api import ids


def test_uids_are_distinct_version4_uuids() -> None:
    made = [ids.new_uid() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    for u in made[:100]:
        parsed = uuid.UUID(u)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == u


def test_suffixes_are_lowercase_alphanumeric_and_vary() -> None:
    made = [ids.suffix() for _ in range(1000)]
    assert all(len(s) == 5 and s.isalnum() and s == s.lower() for s in made)
    assert len(set(made)) > 990


def test_a_forked_child_draws_other_names_than_its_parent() -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first uid, to the parent
        os.write(w, ids.new_uid().encode())
        os._exit(0)
    os.close(w)
    child = os.read(r, 64).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert child != ids.new_uid()
