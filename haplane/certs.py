"""``haplane certs generate``: a private CA and server certificates, offline.

For clusters without a PKI of their own (compose, tests, a first install). Keys are ECDSA
P-256; files are PEM. In ``--dir D``:

* ``ca.pem`` / ``ca-key.pem`` — the CA (created once; reused by later runs, so one CA can sign
  a certificate per host: ``--name r2 --hosts 10.0.0.12,r2``).
* ``NAME.pem`` / ``NAME-key.pem`` — a server certificate (default NAME ``server``) whose
  subjectAltNames are ``--hosts`` (IP addresses become IP SANs, anything else DNS SANs). It is
  valid for server and client authentication.

Private keys are written mode 0600, every file atomically. Nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVER_DAYS = 825


@dataclass(frozen=True)
class CertPaths:
    ca: str
    ca_key: str
    cert: str
    key: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "haplane"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(common_name: str = "haplane CA",
            days: int = CA_DAYS) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def san_entries(hosts: list[str]) -> list[x509.GeneralName]:
    """IP SANs for addresses, DNS SANs for names. Raises ValueError on an empty list."""
    out: list[x509.GeneralName] = []
    for h in (h.strip() for h in hosts):
        if not h:
            continue
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    if not out:
        raise ValueError("at least one host is needed")
    return out


def covers(cert_path: str, hosts: list[str]) -> bool:
    """Whether the certificate in ``cert_path`` names every one of ``hosts`` and is valid now
    (False for a missing or unreadable file)."""
    try:
        with open(cert_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    have = set(names)
    return all(entry in have for entry in san_entries(hosts)) and \
        cert.not_valid_before_utc <= _now() < cert.not_valid_after_utc


def make_server_cert(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, hosts: list[str],
                     days: int = SERVER_DAYS) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A leaf certificate for ``hosts``, signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    sans = san_entries(hosts)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(hosts[0].strip())).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                         crl_sign=False, content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: str, data: bytes, mode: int) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def generate(directory: str, hosts: list[str], name: str = "server", days: int = SERVER_DAYS) -> CertPaths:
    """Write (or reuse) the CA in ``directory`` and a server certificate ``name`` for ``hosts``."""
    os.makedirs(directory, exist_ok=True)
    paths = CertPaths(ca=os.path.join(directory, "ca.pem"), ca_key=os.path.join(directory, "ca-key.pem"),
                      cert=os.path.join(directory, f"{name}.pem"), key=os.path.join(directory, f"{name}-key.pem"))
    if os.path.exists(paths.ca) and os.path.exists(paths.ca_key):
        with open(paths.ca, "rb") as f:
            ca_cert = x509.load_pem_x509_certificate(f.read())
        with open(paths.ca_key, "rb") as f:
            loaded = serialization.load_pem_private_key(f.read(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{paths.ca_key}: expected an EC private key")
        ca_key = loaded
    else:
        ca_key, ca_cert = make_ca()
        _write(paths.ca_key, _key_pem(ca_key), 0o600)
        _write(paths.ca, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    key, cert = make_server_cert(ca_key, ca_cert, hosts, days)
    _write(paths.key, _key_pem(key), 0o600)
    _write(paths.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return paths


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["generate"], help="generate: a CA (once) and a server certificate")
    p.add_argument("--dir", required=True, help="where the PEM files go (the CA is reused if present)")
    p.add_argument("--hosts", required=True,
                   help="comma-separated addresses and names the certificate is valid for, "
                        "e.g. 10.0.0.11,r1.example.net,127.0.0.1,localhost")
    p.add_argument("--name", default="server", help="file name stem of the certificate (default server)")
    p.add_argument("--days", type=int, default=SERVER_DAYS, help=f"validity in days (default {SERVER_DAYS})")


def main_certs(args: argparse.Namespace) -> int:
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    try:
        paths = generate(args.dir, hosts, name=args.name, days=args.days)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"haplane certs: {exc}") from None
    print(f"CA:          {paths.ca}\nCA key:      {paths.ca_key}  (keep offline; needed only to sign more)\n"
          f"certificate: {paths.cert}\nkey:         {paths.key}\nvalid for:   {', '.join(hosts)}")
    return 0
