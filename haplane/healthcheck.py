"""``python -m haplane.healthcheck URL [--ca PEM]``: exit 0 when URL answers 200 within 3 s.

For container health checks and service managers: standard library only, no token (point it
at ``/healthz`` or ``/readyz``), verifies HTTPS against ``--ca`` (default: the system store).
"""

from __future__ import annotations

import argparse
import ssl
import sys
import urllib.error
import urllib.request


def check(url: str, ca: str | None = None, timeout: float = 3.0) -> tuple[bool, str]:
    """(healthy, what was seen). Never raises on network errors."""
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=ctx) as r:  # noqa: S310 - operator's URL
            body = r.read(200).decode("utf-8", "replace").strip()
            return r.status == 200, f"{r.status} {body}"
    except urllib.error.HTTPError as exc:
        return False, f"{exc.code} {exc.read(200).decode('utf-8', 'replace').strip()}"
    except (OSError, ValueError) as exc:
        return False, str(exc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m haplane.healthcheck")
    p.add_argument("url")
    p.add_argument("--ca", help="CA bundle for an https URL")
    p.add_argument("--timeout", type=float, default=3.0)
    args = p.parse_args(argv)
    ok, seen = check(args.url, args.ca, args.timeout)
    print(seen, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
