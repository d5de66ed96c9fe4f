"""SPDY/3.1 framing, the part ``kubectl port-forward`` speaks (pure: bytes in, frames out).

kubectl 1.37 tunnels a SPDY/3.1 connection through a WebSocket (subprotocol
``SPDY/3.1+portforward.k8s.io``; each binary message carries the next bytes of the SPDY byte
stream, frames may span messages). The frames (draft-mbelshe-httpbis-spdy-00, SPDY/3)::

    control: |1| version(15) | type(16) | flags(8) | length(24) | data
    data:    |0| stream-id(31)           | flags(8) | length(24) | data

SYN_STREAM (1), SYN_REPLY (2), RST_STREAM (3), SETTINGS (4), PING (6), GOAWAY (7), HEADERS (8)
and WINDOW_UPDATE (9) are decoded; others are returned as :class:`Unknown` (the spec says to
ignore them). Header blocks are zlib streams with the SPDY/3 dictionary, one compression
context per direction for the whole connection (:class:`HeaderCodec`). The peer kubectl uses
(moby/spdystream) does no flow control, so WINDOW_UPDATE is parsed and ignored by callers.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, INTERNAL_ERROR = 1, 2, 3, 5, 6
MAX_FRAME = (1 << 24) - 1
MAX_HEADER_BLOCK = 1 << 20  # decompressed; ours are a few hundred bytes


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3: close the connection."""


def _dictionary() -> bytes:
    """The SPDY/3 header compression dictionary (spec section 2.6.10.1): length-prefixed
    words followed by a run of common values."""
    words = (
        "options|head|post|put|delete|trace|accept|accept-charset|accept-encoding|accept-language|"
        "accept-ranges|age|allow|authorization|cache-control|connection|content-base|content-encoding|"
        "content-language|content-length|content-location|content-md5|content-range|content-type|date|"
        "etag|expect|expires|from|host|if-match|if-modified-since|if-none-match|if-range|"
        "if-unmodified-since|last-modified|location|max-forwards|pragma|proxy-authenticate|"
        "proxy-authorization|range|referer|retry-after|server|te|trailer|transfer-encoding|upgrade|"
        "user-agent|vary|via|warning|www-authenticate|method|get|status|200 OK|version|HTTP/1.1|url|"
        "public|set-cookie|keep-alive|origin"
    ).split("|")
    head = b"".join(struct.pack(">I", len(w)) + w.encode() for w in words)
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
        "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
        "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
        "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
        "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,"
        "deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return head + tail.encode()


DICTIONARY = _dictionary()


# --- frames ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes
    fin: bool = False


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: dict[str, list[str]]
    associated_id: int = 0
    priority: int = 0
    fin: bool = False
    unidirectional: bool = False


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: dict[str, list[str]]
    fin: bool = False


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...]  # (flags, id, value)
    clear: bool = False


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_stream_id: int
    status: int = 0


@dataclass(frozen=True)
class Headers:
    stream_id: int
    headers: dict[str, list[str]]
    fin: bool = False


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True)
class Unknown:
    type: int
    flags: int
    payload: bytes


Frame = Data | SynStream | SynReply | RstStream | Settings | Ping | GoAway | Headers | WindowUpdate | Unknown


# --- header blocks --------------------------------------------------------------------------

def pack_header_block(headers: dict[str, list[str]]) -> bytes:
    """The uncompressed block: count, then (name, value) with 32-bit lengths; several values
    of one name are joined by NUL, names are lower case."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        n, v = name.lower().encode(), "\x00".join(values).encode()
        out.append(struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def unpack_header_block(block: bytes) -> dict[str, list[str]]:
    def take(pos: int, n: int) -> bytes:
        if pos + n > len(block):
            raise ProtocolError("truncated header block")
        return block[pos:pos + n]

    (count,), pos = struct.unpack(">I", take(0, 4)), 4
    headers: dict[str, list[str]] = {}
    for _ in range(count):
        (nlen,) = struct.unpack(">I", take(pos, 4))
        name = take(pos + 4, nlen).decode("latin-1").lower()
        pos += 4 + nlen
        (vlen,) = struct.unpack(">I", take(pos, 4))
        value = take(pos + 4, vlen).decode("latin-1")
        pos += 4 + vlen
        headers.setdefault(name, []).extend(value.split("\x00"))
    return headers


class HeaderCodec:
    """The two zlib contexts of one connection: ``compress`` for what we send, ``decompress``
    for what the peer sends. Stateful: use each block in frame order."""

    def __init__(self) -> None:
        self._out = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                     zdict=DICTIONARY)
        self._in = zlib.decompressobj(zdict=DICTIONARY)

    def compress(self, headers: dict[str, list[str]]) -> bytes:
        return self._out.compress(pack_header_block(headers)) + self._out.flush(zlib.Z_SYNC_FLUSH)

    def decompress(self, data: bytes) -> dict[str, list[str]]:
        try:
            block = self._in.decompress(data, MAX_HEADER_BLOCK)
        except zlib.error as exc:
            raise ProtocolError(f"bad header block: {exc}") from None
        if self._in.unconsumed_tail:
            raise ProtocolError("header block too large")
        return unpack_header_block(block)


# --- encoding -------------------------------------------------------------------------------

def _control(ftype: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise ValueError("frame too large")
    return struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(payload)) + payload


def encode(frame: Frame, codec: HeaderCodec | None = None) -> bytes:
    """The wire bytes of ``frame``; frames with headers need the connection's ``codec``."""
    if isinstance(frame, Data):
        if len(frame.data) > MAX_FRAME:
            raise ValueError("frame too large")
        return struct.pack(">II", frame.stream_id & 0x7FFFFFFF,
                           ((FLAG_FIN if frame.fin else 0) << 24) | len(frame.data)) + frame.data
    if isinstance(frame, (SynStream, SynReply, Headers)):
        if codec is None:
            raise ValueError("a header frame needs the connection's HeaderCodec")
        block = codec.compress(frame.headers)
        fin = FLAG_FIN if frame.fin else 0
        if isinstance(frame, SynStream):
            flags = fin | (FLAG_UNIDIRECTIONAL if frame.unidirectional else 0)
            head = struct.pack(">IIBB", frame.stream_id & 0x7FFFFFFF, frame.associated_id & 0x7FFFFFFF,
                               (frame.priority & 7) << 5, 0)
            return _control(SYN_STREAM, flags, head + block)
        ftype = SYN_REPLY if isinstance(frame, SynReply) else HEADERS
        return _control(ftype, fin, struct.pack(">I", frame.stream_id & 0x7FFFFFFF) + block)
    if isinstance(frame, RstStream):
        return _control(RST_STREAM, 0, struct.pack(">II", frame.stream_id & 0x7FFFFFFF, frame.status))
    if isinstance(frame, Settings):
        body = struct.pack(">I", len(frame.entries)) + b"".join(
            struct.pack(">II", (f << 24) | (i & 0xFFFFFF), v) for f, i, v in frame.entries)
        return _control(SETTINGS, 1 if frame.clear else 0, body)
    if isinstance(frame, Ping):
        return _control(PING, 0, struct.pack(">I", frame.ping_id))
    if isinstance(frame, GoAway):
        return _control(GOAWAY, 0, struct.pack(">II", frame.last_stream_id & 0x7FFFFFFF, frame.status))
    if isinstance(frame, WindowUpdate):
        return _control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id & 0x7FFFFFFF, frame.delta & 0x7FFFFFFF))
    if isinstance(frame, Unknown):
        return _control(frame.type, frame.flags, frame.payload)
    raise TypeError(f"not a SPDY frame: {frame!r}")


# --- decoding -------------------------------------------------------------------------------

@dataclass
class FrameReader:
    """Incremental decoder: ``feed`` bytes as they arrive, get the complete frames back."""

    codec: HeaderCodec = field(default_factory=HeaderCodec)
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            length = int.from_bytes(self._buf[5:8], "big")
            if len(self._buf) < 8 + length:
                break
            head, payload = bytes(self._buf[:8]), bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            frames.append(self._decode(head, payload))
        return frames

    def _decode(self, head: bytes, payload: bytes) -> Frame:
        word, flags = struct.unpack(">I", head[:4])[0], head[4]
        if not word & 0x80000000:
            return Data(word & 0x7FFFFFFF, payload, bool(flags & FLAG_FIN))
        version, ftype = (word >> 16) & 0x7FFF, word & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"SPDY version {version} is not supported (3 is)")

        def need(n: int) -> None:
            if len(payload) < n:
                raise ProtocolError(f"control frame {ftype} is too short ({len(payload)} bytes)")

        fin = bool(flags & FLAG_FIN)
        if ftype == SYN_STREAM:
            need(10)
            sid, assoc = struct.unpack(">II", payload[:8])
            return SynStream(sid & 0x7FFFFFFF, self.codec.decompress(payload[10:]), assoc & 0x7FFFFFFF,
                             payload[8] >> 5, fin, bool(flags & FLAG_UNIDIRECTIONAL))
        if ftype in (SYN_REPLY, HEADERS):
            need(4)
            sid = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            headers = self.codec.decompress(payload[4:])
            return SynReply(sid, headers, fin) if ftype == SYN_REPLY else Headers(sid, headers, fin)
        if ftype == RST_STREAM:
            need(8)
            sid, status = struct.unpack(">II", payload[:8])
            return RstStream(sid & 0x7FFFFFFF, status)
        if ftype == SETTINGS:
            need(4)
            (count,) = struct.unpack(">I", payload[:4])
            need(4 + 8 * count)
            entries = []
            for k in range(count):
                fid, value = struct.unpack(">II", payload[4 + 8 * k:12 + 8 * k])
                entries.append((fid >> 24, fid & 0xFFFFFF, value))
            return Settings(tuple(entries), bool(flags & 1))
        if ftype == PING:
            need(4)
            return Ping(struct.unpack(">I", payload[:4])[0])
        if ftype == GOAWAY:
            need(4)
            last = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            status = struct.unpack(">I", payload[4:8])[0] if len(payload) >= 8 else 0
            return GoAway(last, status)
        if ftype == WINDOW_UPDATE:
            need(8)
            sid, delta = struct.unpack(">II", payload[:8])
            return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        return Unknown(ftype, flags, payload)
