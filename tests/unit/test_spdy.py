"""SPDY/3.1 framing: encode/decode round trips, byte layouts from the spec, incremental reads."""

from __future__ import annotations

import struct
import zlib

import pytest

from node_agent import spdy

FRAMES = [
    pytest.param(spdy.Data(1, b"hello"), id="data"),
    pytest.param(spdy.Data(3, b"", fin=True), id="data-fin"),
    pytest.param(spdy.Data(0x7FFFFFFF, b"x" * 70000), id="data-big-id-long"),
    pytest.param(spdy.SynStream(1, {"streamtype": ["error"], "port": ["8080"], "requestid": ["0"]}), id="syn-stream"),
    pytest.param(spdy.SynStream(3, {"a": ["1", "2"]}, associated_id=1, priority=7, fin=True, unidirectional=True),
                 id="syn-stream-flags"),
    pytest.param(spdy.SynReply(1, {}), id="syn-reply-empty"),
    pytest.param(spdy.SynReply(5, {"x": ["y"]}, fin=True), id="syn-reply-fin"),
    pytest.param(spdy.Headers(5, {"k": ["v"]}), id="headers"),
    pytest.param(spdy.RstStream(5, spdy.CANCEL), id="rst"),
    pytest.param(spdy.Settings(((0, 7, 65536), (1, 4, 100))), id="settings"),
    pytest.param(spdy.Ping(0x12345678), id="ping"),
    pytest.param(spdy.GoAway(9, 0), id="goaway"),
    pytest.param(spdy.WindowUpdate(1, 4096), id="window-update"),
    pytest.param(spdy.Unknown(0x42, 0, b"\x01\x02"), id="unknown-type"),
]


@pytest.mark.parametrize("frame", FRAMES)
def test_round_trip(frame: spdy.Frame) -> None:
    writer, reader = spdy.HeaderCodec(), spdy.FrameReader()
    assert reader.feed(spdy.encode(frame, writer)) == [frame]


def test_header_contexts_persist_across_frames() -> None:
    """One zlib context per direction for the whole connection: later blocks refer back."""
    writer, reader = spdy.HeaderCodec(), spdy.FrameReader()
    frames = [spdy.SynStream(i, {"streamtype": ["data"], "port": ["80"], "requestid": [str(i)]})
              for i in range(1, 12, 2)]
    wires = [spdy.encode(f, writer) for f in frames]
    assert reader.feed(b"".join(wires)) == frames
    assert len(wires[-1]) < len(wires[0])  # the later blocks refer back to the earlier ones
    with pytest.raises(spdy.ProtocolError):  # so the 2nd block alone cannot be inflated
        spdy.FrameReader().feed(wires[1])


@pytest.mark.parametrize("cut", [1, 5, 8, 9, 20])
def test_frames_split_anywhere(cut: int) -> None:
    """WebSocket messages split the byte stream anywhere: frames complete across feeds."""
    writer = spdy.HeaderCodec()
    wire = spdy.encode(spdy.SynStream(1, {"port": ["80"]}), writer) + spdy.encode(spdy.Data(1, b"abcdef"), writer)
    reader = spdy.FrameReader()
    got = reader.feed(wire[:cut]) + reader.feed(wire[cut:])
    assert got == [spdy.SynStream(1, {"port": ["80"]}), spdy.Data(1, b"abcdef")]


@pytest.mark.parametrize(("frame", "wire"), [
    pytest.param(spdy.Data(1, b"ab", fin=True), b"\x00\x00\x00\x01\x01\x00\x00\x02ab", id="data"),
    pytest.param(spdy.Ping(7), b"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x07", id="ping"),
    pytest.param(spdy.RstStream(3, spdy.CANCEL), b"\x80\x03\x00\x03\x00\x00\x00\x08\x00\x00\x00\x03\x00\x00\x00\x05",
                 id="rst"),
    pytest.param(spdy.GoAway(1, 0), b"\x80\x03\x00\x07\x00\x00\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00", id="goaway"),
])
def test_byte_layout(frame: spdy.Frame, wire: bytes) -> None:
    assert spdy.encode(frame) == wire


def test_dictionary_is_the_spdy3_one() -> None:
    """1423 bytes; the zlib header of a block names it by its Adler-32 (the one kubectl's
    spdystream sends, seen on the wire)."""
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"utf-,*,enq=0.")
    block = spdy.HeaderCodec().compress({"a": ["b"]})
    assert struct.unpack(">I", block[2:6])[0] == zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def test_header_block_layout() -> None:
    block = spdy.pack_header_block({"Port": ["80"], "x": ["1", "2"]})
    assert block == (b"\x00\x00\x00\x02" b"\x00\x00\x00\x04port\x00\x00\x00\x0280"
                     b"\x00\x00\x00\x01x\x00\x00\x00\x031\x002")
    assert spdy.unpack_header_block(block) == {"port": ["80"], "x": ["1", "2"]}


@pytest.mark.parametrize(("wire", "message"), [
    pytest.param(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01", "version 2", id="spdy2"),
    pytest.param(b"\x80\x03\x00\x06\x00\x00\x00\x02\x00\x00", "too short", id="short-ping"),
    pytest.param(b"\x80\x03\x00\x01\x00\x00\x00\x0c" + b"\x00" * 10 + b"\xff\xff", "bad header block", id="bad-zlib"),
])
def test_garbage_is_a_protocol_error(wire: bytes, message: str) -> None:
    with pytest.raises(spdy.ProtocolError) as exc:
        spdy.FrameReader().feed(wire)
    assert message in str(exc.value)


def test_truncated_header_block() -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.unpack_header_block(b"\x00\x00\x00\x01\x00\x00\x00\x09ab")
