"""The table of tests/kube/__init__.py stays true: every test id it names is collected, every count
it states is the length of its list, and every command and call it lists is made by some test."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import tests.kube

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DOC = tests.kube.__doc__ or ""
LISTS = dict((m[0], (int(m[1]), [" ".join(x.split()) for x in m[2].split(";")]))
             for m in re.findall(r"^([\w ]+) \((\d+)\): (.*?)\.$", DOC, re.M | re.S))


def sources() -> str:
    return "".join(open(p, encoding="utf-8").read() for p in sorted(glob.glob(os.path.join(HERE, "test_*.py")))
                   if not p.endswith("test_table.py"))


def test_every_listed_test_is_collected() -> None:
    listed = set(re.findall(r"\btest_\w+\.py::[^\s]+", DOC))
    assert len(listed) > 50
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/kube"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    collected = {line.split("tests/kube/", 1)[1] for line in out.stdout.splitlines() if line.startswith("tests/kube/")}
    assert collected, out.stdout + out.stderr
    assert sorted(listed - collected) == []


def test_the_counts_are_the_lists() -> None:
    assert set(LISTS) == {"kubectl commands", "kubernetes calls", "kubernetes_asyncio calls"}
    for name, (count, items) in LISTS.items():
        assert len(items) == len(set(items)) == count, name
    (total,) = re.findall(r"covered by asserting tests: (\d+)\.", DOC)
    assert int(total) == sum(count for count, _ in LISTS.values())


def test_every_listed_command_and_call_is_made() -> None:
    src = sources()
    for command in LISTS["kubectl commands"][1]:
        for word in re.split(r"[ /]", command):
            assert f'"{word}"' in src, command
    for name in ("kubernetes calls", "kubernetes_asyncio calls"):
        for call in LISTS[name][1]:
            api, method = call.split(".", 1)[0], call.rsplit(".", 1)[1]
            assert api in src and re.search(rf"\.{method}\b", src), call
