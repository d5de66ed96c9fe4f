"""``haplane certs``: a CA and server certificates that the ssl module accepts and verifies."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl

import pytest
from cryptography import x509

from haplane import certs
from haplane.tls import ServerTLS


def test_generate_reuses_the_ca_and_sets_sans(tmp_path) -> None:  # noqa: ANN001
    d = str(tmp_path)
    first = certs.generate(d, ["10.0.0.11", "r1.example", "127.0.0.1"], name="r1")
    ca_pem = open(first.ca, "rb").read()
    second = certs.generate(d, ["10.0.0.12"], name="r2")
    assert open(second.ca, "rb").read() == ca_pem
    cert = x509.load_pem_x509_certificate(open(first.cert, "rb").read())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.0.0.11") in san.get_values_for_type(x509.IPAddress)
    assert "r1.example" in san.get_values_for_type(x509.DNSName)
    with pytest.raises(ValueError):
        certs.san_entries([" ", ""])


async def _handshake(tls: ServerTLS, client_ctx: ssl.SSLContext, host: str) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls.server_context())
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname=host)
        assert await reader.read() == b"ok"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_server_context_verifies_against_the_ca(tmp_path) -> None:  # noqa: ANN001
    p = certs.generate(str(tmp_path / "a"), ["127.0.0.1", "localhost"])
    tls = ServerTLS(p.cert, p.key, p.ca)
    await _handshake(tls, tls.peer_context(), "127.0.0.1")
    await _handshake(tls, ssl.create_default_context(cafile=p.ca), "localhost")
    with pytest.raises(ssl.SSLCertVerificationError):  # a name the certificate does not carry
        await _handshake(tls, ssl.create_default_context(cafile=p.ca), "r9.example")
    other = certs.generate(str(tmp_path / "b"), ["127.0.0.1"])
    with pytest.raises(ssl.SSLCertVerificationError):  # another CA
        await _handshake(tls, ssl.create_default_context(cafile=other.ca), "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):  # the system store
        await _handshake(tls, ssl.create_default_context(), "127.0.0.1")
