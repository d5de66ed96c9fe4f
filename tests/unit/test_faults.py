"""The fault rules of the Raft transport: parsing, drop decisions, delay ordering, reloads."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from haplane.store.faults import DelayQueue, FaultRules, RulesWatcher, should_drop

A, B, C = "127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"


@pytest.mark.parametrize(("doc", "drop", "delay"), [
    pytest.param(None, {}, {}, id="none"),
    pytest.param({}, {}, {}, id="empty"),
    pytest.param({"drop": {B: 1.0}}, {B: 1.0}, {}, id="partition"),
    pytest.param({"drop": {B: 1}, "delay": {C: 0.2}}, {B: 1.0}, {C: 0.2}, id="int-prob-and-delay"),
    pytest.param({"drop": {B: 7.5, C: -1}}, {B: 1.0}, {}, id="clamped-and-zero-removed"),
    pytest.param({"drop": {B: 0.0}, "delay": {B: 0}}, {}, {}, id="zeros-mean-healthy"),
    pytest.param({"drop": {B: 0.25}, "version": 4}, {B: 0.25}, {}, id="version-ignored-by-rules"),
])
def test_parse(doc: Any, drop: dict, delay: dict) -> None:
    rules = FaultRules.parse(doc)
    assert dict(rules.drop) == drop
    assert dict(rules.delay) == delay
    assert FaultRules.parse(rules.to_doc()) == rules


@pytest.mark.parametrize("doc", [
    pytest.param([], id="not-an-object"),
    pytest.param({"drop": [B]}, id="drop-not-a-map"),
    pytest.param({"drop": {B: "1"}}, id="string-probability"),
    pytest.param({"drop": {B: True}}, id="bool-probability"),
    pytest.param({"drop": {B: float("nan")}}, id="nan"),
    pytest.param({"delay": {B: -0.1}}, id="negative-delay"),
    pytest.param({"delay": {B: float("inf")}}, id="infinite-delay"),
    pytest.param({"dorp": {B: 1.0}}, id="typo-field"),
    pytest.param({"drop": {"": 1.0}}, id="empty-peer"),
])
def test_parse_rejects(doc: Any) -> None:
    with pytest.raises(ValueError):
        FaultRules.parse(doc)


def test_partition_is_certain_and_other_peers_untouched() -> None:
    rules = FaultRules.parse({"drop": {B: 1.0}})
    rng = random.Random(1)
    assert rules.is_partitioned(B) and not rules.is_partitioned(C)
    assert all(should_drop(rules, B, rng) for _ in range(1000))
    assert not any(should_drop(rules, C, rng) for _ in range(1000))


def test_lossy_link_drops_about_the_given_fraction() -> None:
    rules = FaultRules.parse({"drop": {B: 0.2}})
    assert not rules.is_partitioned(B)
    rng = random.Random(7)
    dropped = sum(should_drop(rules, B, rng) for _ in range(20_000))
    assert 0.18 < dropped / 20_000 < 0.22


def test_healthy_rules_never_draw() -> None:
    class NoDraw(random.Random):
        def random(self) -> float:
            raise AssertionError("drew a random number for a certain outcome")

    assert not should_drop(FaultRules(), B, NoDraw())
    assert should_drop(FaultRules.parse({"drop": {B: 1.0}}), B, NoDraw())


def test_delay_queue_releases_when_due_in_fifo_order() -> None:
    q = DelayQueue()
    q.push(B, "b1", now=0.0, delay=0.2)
    q.push(C, "c1", now=0.0, delay=0.1)
    q.push(B, "b2", now=0.05, delay=0.2)
    assert list(q.pop_due(0.09)) == []
    assert list(q.pop_due(0.1)) == [(C, "c1")]
    assert list(q.pop_due(0.2)) == [(B, "b1")]
    assert len(q) == 1
    assert list(q.pop_due(1.0)) == [(B, "b2")]
    assert len(q) == 0


def test_delay_queue_never_reorders_when_the_delay_shrinks() -> None:
    q = DelayQueue()
    assert q.push(B, 1, now=0.0, delay=1.0) == 1.0
    assert q.push(B, 2, now=0.1, delay=0.0) == 1.0  # held behind message 1
    assert list(q.pop_due(0.5)) == []
    assert [m for _, m in q.pop_due(1.0)] == [1, 2]


def test_delay_queue_drop_peer() -> None:
    q = DelayQueue()
    q.push(B, 1, 0.0, 1.0)
    q.push(B, 2, 0.0, 1.0)
    q.push(C, 3, 0.0, 1.0)
    assert q.drop_peer(B) == 2
    assert q.drop_peer(B) == 0
    assert list(q.pop_due(2.0)) == [(C, 3)]


class FakeFile:
    """A rules file whose stat key and text the test controls."""

    def __init__(self) -> None:
        self.key: tuple[int, int, int] | None = None
        self.text = ""
        self.reads = 0

    def set(self, doc: Any, key: tuple[int, int, int]) -> None:
        self.text = doc if isinstance(doc, str) else json.dumps(doc)
        self.key = key

    def stat(self, path: str) -> tuple[int, int, int] | None:
        return self.key

    def read(self, path: str) -> str:
        self.reads += 1
        return self.text


def test_watcher_reloads_only_on_change_and_at_most_every_interval() -> None:
    f = FakeFile()
    w = RulesWatcher("rules.json", interval=1.0, stat=f.stat, read=f.read)
    assert not w.poll(0) and w.rules.empty  # missing file: healthy, nothing new
    f.set({"drop": {B: 1.0}}, (1, 100, 20))
    assert not w.poll(0.5)  # not due yet
    assert w.poll(1) and w.rules.is_partitioned(B)
    assert not w.poll(2) and f.reads == 1  # unchanged: not re-read
    f.set({"drop": {C: 1.0}}, (2, 100, 20))  # replaced within one mtime tick: the inode tells
    assert w.poll(3) and w.rules.is_partitioned(C) and not w.rules.is_partitioned(B)
    f.key = None  # deleted: healthy again
    assert w.poll(4) and w.rules.empty


def test_watcher_keeps_rules_when_the_file_is_broken() -> None:
    f = FakeFile()
    w = RulesWatcher("rules.json", interval=1.0, stat=f.stat, read=f.read)
    f.set({"drop": {B: 1.0}}, (1, 1, 1))
    assert w.poll(0)
    f.set("{not json", (1, 2, 9))
    assert not w.poll(1) and w.rules.is_partitioned(B) and w.errors == 1
    assert not w.poll(2) and f.reads == 2  # the broken version is not re-read every tick
    f.set({"drop": {B: 1.5, C: 2}, "delay": {"x": -1}}, (1, 3, 9))  # invalid: negative delay
    assert not w.poll(3) and w.rules.is_partitioned(B) and w.errors == 2
    f.set({}, (1, 4, 2))
    assert w.poll(4) and w.rules.empty


def test_watcher_on_a_real_file(tmp_path) -> None:  # noqa: ANN001
    from haplane.store.faults import write_rules

    path = str(tmp_path / "r1.json")
    w = RulesWatcher(path, interval=0.0)
    assert not w.poll(0.0)
    write_rules(path, FaultRules.parse({"drop": {B: 1.0}, "version": 1}))
    assert w.poll(1.0) and w.rules.is_partitioned(B) and w.rules.version == 1
    write_rules(path, FaultRules.parse({"delay": {B: 0.3}, "version": 2}))
    assert w.poll(2.0) and w.rules.delay_for(B) == 0.3 and not w.rules.is_partitioned(B)
