"""The haplane API client: many endpoints, failover, safe retries, watch with resume.

Contracts
---------
* **Endpoints.** Tried in order, starting from the last one that answered. A connection
  error, a connect timeout or a 503 moves on to the next endpoint at once; once every
  endpoint has failed in a round the client sleeps (exponential backoff with jitter, the
  server's ``Retry-After`` as a floor, capped at ``backoff_max``) before the next round.
  A call makes at most ``max_attempts`` attempts: it never loops forever.
* **Timeouts.** Every attempt has an aiohttp ``ClientTimeout`` (``timeout`` total,
  ``connect_timeout`` to connect); a watch has a connect timeout and an idle timeout.
* **Retries of writes.** Every non-GET request carries an ``X-Request-Id`` (a fresh uuid per
  logical call, reused on each retry of that call). The server applies a request id at
  most once and answers a retry with the original outcome, so every call is retried —
  including after a 504 (outcome unknown) or a connection lost after the request was sent.
* **Giving up.** When attempts run out, a write that may have reached the server raises
  :class:`~haplane.errors.OutcomeUnknown`; anything else raises
  :class:`~haplane.errors.Unavailable` (for a write this means it was *not* applied: every
  attempt was refused before it was sent, or answered 503). ``idempotent=False`` disables
  the retry of an attempt that may have been applied (raises OutcomeUnknown at once).
* **Errors.** A non-2xx response with a Status body raises ``errors.from_status``; any other
  error body raises a :class:`~haplane.errors.HaplaneError` carrying the HTTP code.
* **Warnings.** ``Warning: 299 - "text"`` response headers (the Kubernetes convention) are
  handed to ``on_warning`` (default: the ``haplane.client`` logger).
* **Sessions.** One aiohttp ``ClientSession`` per Client, created lazily inside the running
  event loop; ``close()`` (or ``async with``) releases it. A Client is bound to the loop
  that first used it.
* **Source address.** ``local_address`` binds every connection's local end to that address
  (a node agent talks to the API from its node address, so the network sees it as the node).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import re
import ssl as ssl_mod
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from haplane import errors
from haplane.clientconfig import ClientConfig, load_config, normalize_endpoint
from haplane.model.registry import lookup

log = logging.getLogger("haplane.client")

REQUEST_ID_HEADER = "X-Request-Id"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

# Attempt outcomes that prove the request was not applied (safe to send anywhere, at once).
_NOT_SENT = "not_sent"
_UNAVAILABLE = "unavailable"
# The request may have been applied: retry only with the same request id.
_MAYBE = "maybe"
# 429: the server refused; retry the same endpoint after Retry-After.
_THROTTLED = "throttled"

_WARNING_RE = re.compile(r'\s*\d{3}\s+\S+\s+"(.*)"\s*', re.DOTALL)


def parse_warnings(values: list[str]) -> list[str]:
    """Texts of ``Warning: 299 - "text"`` header values (one warning per header value).

    The quoted text is taken greedily, so unescaped inner quotes survive; ``\\"`` and
    ``\\\\`` escapes are undone. A value not in that form is returned as it is.
    """
    out: list[str] = []
    for value in values:
        m = _WARNING_RE.fullmatch(value)
        text = re.sub(r"\\([\\\"])", r"\1", m.group(1)) if m else value.strip()
        if text:
            out.append(text)
    return out


def parse_retry_after(value: str | None) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); 0 when absent/bad."""
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - time.time())


def _error_from_response(status: int, body: bytes, reason: str | None = None) -> errors.HaplaneError:
    """The exception a non-2xx response stands for (Status body or not)."""
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        return errors.from_status(doc, status)
    text = body.decode("utf-8", "replace").strip()[:500] if body else ""
    err = errors.from_status({"reason": _REASON_BY_CODE.get(status, ""),
                              "message": text or reason or f"HTTP {status}", "code": status}, status)
    err.code = status
    return err


_REASON_BY_CODE = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                   405: "MethodNotAllowed", 410: "Gone", 413: "RequestEntityTooLarge",
                   415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
                   503: "ServiceUnavailable", 504: "Timeout"}


def _rv_int(obj: Mapping[str, Any] | None) -> int | None:
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion"))
    except (TypeError, ValueError, AttributeError):
        return None


class ConnectionFailed(errors.Unavailable):
    """No endpoint gave any HTTP answer (refused, unreachable, timed out): the client's
    "Unable to connect to the server". A subclass of Unavailable, so retry logic need not care."""


class Client:
    """Async client for the haplane (Kubernetes-shaped) API. See the module docstring."""

    def __init__(
        self,
        endpoints: list[str],
        token: str | None = None,
        *,
        timeout: float = 10.0,
        ssl: ssl_mod.SSLContext | None = None,
        max_attempts: int = 6,
        connect_timeout: float = 3.0,
        backoff_base: float = 0.1,
        backoff_max: float = 5.0,
        watch_idle_timeout: float | None = 30.0,
        on_warning: Callable[[str], None] | None = None,
        local_address: str | None = None,
    ) -> None:
        if not endpoints:
            raise errors.BadRequest("Client needs at least one endpoint")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.endpoints = [normalize_endpoint(e) for e in endpoints]
        self.token = token
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.watch_idle_timeout = watch_idle_timeout
        self.on_warning = on_warning
        self.local_address = local_address
        self._ssl = ssl
        self._preferred = 0
        self._session: aiohttp.ClientSession | None = None

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def from_config(cls, path: str | None = None, **kwargs: Any) -> Client:
        """A Client from the client config file (see :mod:`haplane.clientconfig`)."""
        return cls.from_client_config(load_config(path), **kwargs)

    @classmethod
    def from_client_config(cls, cfg: ClientConfig, **kwargs: Any) -> Client:
        kwargs.setdefault("ssl", cfg.ssl_context())
        return cls(cfg.endpoints, cfg.token, **kwargs)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session (idempotent)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # limit=0: watches each hold a connection; the pool must not starve requests.
            local = (self.local_address, 0) if self.local_address else None
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, local_addr=local))
            # aiohttp silently re-sends an idempotent request once on a fresh connection when a
            # kept-alive one breaks; if the first copy reached a replica that then died, the
            # re-send's "connection refused" would be misread as "never sent". The client does
            # its own retries, with the request id: turn aiohttp's off (found by the chaos harness).
            self._session._retry_connection = False  # noqa: SLF001 - no public switch exists
        return self._session

    @property
    def _ssl_arg(self) -> ssl_mod.SSLContext | bool:
        return self._ssl if self._ssl is not None else True

    @property
    def current_endpoint(self) -> str:
        """The endpoint the next call tries first (the last one that answered)."""
        return self.endpoints[self._preferred]

    # ----------------------------------------------------------------- plumbing

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if extra:
            h.update(extra)
        return h

    def _emit_warnings(self, headers: CIMultiDictProxy[str]) -> None:
        for text in parse_warnings(headers.getall("Warning", [])):
            if self.on_warning is not None:
                self.on_warning(text)
            else:
                log.warning("server warning: %s", text)

    def _delay(self, n: int, floor: float) -> float:
        """Backoff before round ``n`` (0-based): jittered exponential, floored, capped."""
        exp = self.backoff_base * (2 ** min(n, 20))
        jittered = exp * random.uniform(0.5, 1.0)
        return min(self.backoff_max, max(floor, jittered))

    def _advance(self, idx: int) -> None:
        if self._preferred == idx:
            self._preferred = (idx + 1) % len(self.endpoints)

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        """Send with failover and retries; return ``(status, headers, body)`` of a 2xx.

        Raises the HaplaneError of a non-retryable error response, OutcomeUnknown or
        Unavailable when attempts run out (see the module docstring).
        """
        method = method.upper()
        write = method not in ("GET", "HEAD", "OPTIONS")
        body = data
        extra: dict[str, str] = {}
        if json is not None:
            if body is not None:
                raise ValueError("pass json or data, not both")
            body = _dumps(json)
            extra["Content-Type"] = content_type or "application/json"
        elif content_type:
            extra["Content-Type"] = content_type
        if write:
            extra[REQUEST_ID_HEADER] = request_id or str(uuid.uuid4())
        headers = self._headers(extra)
        total = self.timeout if timeout is None else timeout
        client_timeout = aiohttp.ClientTimeout(total=total, connect=min(total, self.connect_timeout))
        session = self._get_session()
        n = len(self.endpoints)

        maybe_applied = answered = False
        last_error = ""
        last_status: tuple[int, bytes] | None = None
        round_tried: set[int] = set()
        round_floor = 0.0
        rounds = 0
        for attempt in range(1, self.max_attempts + 1):
            idx = self._preferred
            base = self.endpoints[idx]
            floor = 0.0
            try:
                async with session.request(method, base + path, params=params, data=body, headers=headers,
                                           timeout=client_timeout, ssl=self._ssl_arg) as resp:
                    raw = await resp.read()
                    status, resp_headers = resp.status, resp.headers
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as e:
                outcome, last_error = _NOT_SENT, f"{base}: {e}"
            except (TimeoutError, aiohttp.ClientError) as e:
                outcome, last_error = _MAYBE, f"{base}: {type(e).__name__}: {e}"
            else:
                answered = True
                self._emit_warnings(resp_headers)
                if 200 <= status < 300:
                    return status, resp_headers, raw
                if status == 503:
                    outcome = _UNAVAILABLE
                elif status == 504:
                    outcome = _MAYBE
                elif status == 429:
                    outcome = _THROTTLED
                else:
                    raise _error_from_response(status, raw, resp.reason)
                last_status = (status, raw)
                err = _error_from_response(status, raw, resp.reason)
                last_error = f"{base}: {err.reason}: {err.message}"
                floor = parse_retry_after(resp_headers.get("Retry-After"))
                if isinstance(err, errors.Unavailable) and "retryAfterSeconds" in err.details:
                    floor = max(floor, err.retry_after)

            if outcome == _MAYBE:
                maybe_applied = True
                if idempotent is False:
                    break
            if attempt == self.max_attempts:
                break
            log.debug("%s %s attempt %d failed (%s): %s", method, path, attempt, outcome, last_error)
            if outcome != _THROTTLED:
                self._advance(idx)
            round_tried.add(idx)
            round_floor = max(round_floor, floor)
            # Fail over at once while some endpoint of this round is untried; sleep between rounds.
            if outcome in (_NOT_SENT, _UNAVAILABLE) and len(round_tried) < n:
                continue
            await asyncio.sleep(self._delay(rounds, round_floor))
            rounds += 1
            round_tried.clear()
            round_floor = 0.0

        what = f"{method} {path}"
        if write and maybe_applied:
            raise errors.OutcomeUnknown(
                f"{what}: outcome unknown after {attempt} attempt(s), retry with the same request id "
                f"({headers[REQUEST_ID_HEADER]}); last error: {last_error}",
                details={"requestId": headers[REQUEST_ID_HEADER]})
        if last_status is not None and last_status[0] == 429:
            raise _error_from_response(*last_status)
        raise (errors.Unavailable if answered else ConnectionFailed)(f"{what}: no endpoint answered after {attempt} attempt(s); "
                                 f"last error: {last_error}")

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Like :meth:`request_raw`, decoding the JSON body (``{}`` for an empty body)."""
        _, _, raw = await self.request_raw(method, path, params=params, json=json, data=data,
                                           content_type=content_type, idempotent=idempotent,
                                           timeout=timeout, request_id=request_id)
        if not raw:
            return {}
        try:
            doc = _json_loads(raw)
        except ValueError as e:
            raise errors.HaplaneError(f"{method} {path}: response is not JSON: {raw[:200]!r}") from e
        if not isinstance(doc, dict):
            raise errors.HaplaneError(f"{method} {path}: expected a JSON object, got {type(doc).__name__}")
        return doc

    # ----------------------------------------------------------------- paths

    def path_for(self, kind: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        """The URL path of a kind/object/subresource.

        A namespaced kind with ``namespace=None`` gives the cluster-wide collection; a
        cluster-scoped kind ignores ``namespace``.
        """
        info = lookup(kind)
        if info.namespaced and namespace is not None:
            path = f"{info.prefix}/namespaces/{namespace}/{info.plural}"
        else:
            if info.namespaced and name is not None:
                raise errors.BadRequest(f"{info.kind} {name!r}: a namespace is required")
            path = f"{info.prefix}/{info.plural}"
        if name is not None:
            path += f"/{name}"
            if sub:
                path += f"/{sub}"
        elif sub:
            raise ValueError("a subresource needs a name")
        return path

    @staticmethod
    def _obj_target(obj: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
        kind = obj.get("kind")
        if not isinstance(kind, str) or not kind:
            raise errors.Invalid("object has no kind")
        info = lookup(kind)
        meta = obj.get("metadata") or {}
        ns = (meta.get("namespace") or "default") if info.namespaced else None
        return info.kind, ns, meta.get("name")

    # ----------------------------------------------------------------- verbs

    async def get(self, kind: str, name: str, namespace: str | None = "default", *, stale: bool = False) -> dict:
        """GET one object (linearizable unless ``stale``)."""
        params = {"stale": "1"} if stale else None
        return await self.request("GET", self.path_for(kind, namespace, name), params=params)

    async def list(
        self,
        kind: str,
        namespace: str | None = "default",
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        stale: bool = False,
    ) -> dict:
        """The List object (``items`` + ``metadata.resourceVersion``); ``namespace=None`` = all."""
        params: dict[str, str] = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if stale:
            params["stale"] = "1"
        return await self.request("GET", self.path_for(kind, namespace), params=params or None)

    async def create(self, obj: dict, *, request_id: str | None = None) -> dict:
        """POST ``obj`` to its collection (kind and namespace read from the object)."""
        kind, ns, _ = self._obj_target(obj)
        return await self.request("POST", self.path_for(kind, ns), json=obj, request_id=request_id)

    async def update(self, obj: dict, *, request_id: str | None = None) -> dict:
        """PUT ``obj``; its ``metadata.resourceVersion``, when set, is a CAS precondition."""
        kind, ns, name = self._obj_target(obj)
        if not name:
            raise errors.Invalid("update: object has no metadata.name")
        return await self.request("PUT", self.path_for(kind, ns, name), json=obj, request_id=request_id)

    async def update_status(self, obj: dict, *, request_id: str | None = None) -> dict:
        """PUT ``obj`` to its ``/status`` subresource (CAS on resourceVersion when set)."""
        kind, ns, name = self._obj_target(obj)
        if not name:
            raise errors.Invalid("update_status: object has no metadata.name")
        return await self.request("PUT", self.path_for(kind, ns, name, "status"), json=obj,
                                  request_id=request_id)

    async def patch(
        self, kind: str, name: str, patch: dict | list, namespace: str | None = "default", *,
        merge: bool = True, request_id: str | None = None,
    ) -> dict:
        """PATCH with a JSON merge patch (``merge=True``, a dict) or a JSON patch (a list)."""
        if isinstance(patch, list):
            merge = False
        return await self.request("PATCH", self.path_for(kind, namespace, name), data=_dumps(patch),
                                  content_type=MERGE_PATCH if merge else JSON_PATCH, request_id=request_id)

    async def delete(
        self, kind: str, name: str, namespace: str | None = "default", *,
        uid: str | None = None, resource_version: str | None = None, request_id: str | None = None,
    ) -> dict:
        """DELETE; ``uid``/``resource_version`` become DeleteOptions preconditions."""
        body = None
        if uid is not None or resource_version is not None:
            pre: dict[str, str] = {}
            if uid is not None:
                pre["uid"] = uid
            if resource_version is not None:
                pre["resourceVersion"] = str(resource_version)
            body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": pre}
        return await self.request("DELETE", self.path_for(kind, namespace, name), json=body,
                                  request_id=request_id)

    async def scale(self, kind: str, name: str, replicas: int, namespace: str | None = "default") -> dict:
        """PUT the ``/scale`` subresource (unconditional); returns the Scale object."""
        scale = {"apiVersion": "autoscaling/v1", "kind": "Scale",
                 "metadata": {"name": name, "namespace": namespace}, "spec": {"replicas": int(replicas)}}
        return await self.request("PUT", self.path_for(kind, namespace, name, "scale"), json=scale)

    async def cluster_status(self) -> dict:
        """``GET /cluster/status`` of whichever replica answers."""
        return await self.request("GET", "/cluster/status")

    # ----------------------------------------------------------------- watch

    async def watch(
        self,
        kind: str,
        namespace: str | None = "default",
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        bookmarks: bool = True,
        idle_timeout: float | None = -1.0,
    ) -> AsyncIterator[dict]:
        """Yield watch events ``{"type", "object"}`` after ``resource_version``, forever.

        * A dropped stream, an endpoint failure, a 503/504 or an idle stream (no bytes for
          ``idle_timeout`` s, default ``watch_idle_timeout``) reconnects — next endpoint,
          with backoff — resuming from the last resourceVersion seen; BOOKMARK events
          advance it and are yielded too (callers that do not care skip them).
        * Events are rv-monotonic: an event whose resourceVersion is not above the last one
          yielded is dropped, so a resumed stream never repeats an event. (A stream opened
          without ``resource_version``, or with "0", starts with ADDED events for the existing
          objects in no rv order; it is passed through as the server sends it until the first
          reconnect. A drop during that initial burst resumes after the highest rv seen, so for
          a complete view list first and watch from the list's resourceVersion.)
        * An ERROR event or response with code 410 raises :class:`errors.Gone`: relist and
          watch again from the list's resourceVersion. Other 4xx errors raise their class.
        * ``max_attempts`` consecutive failures to get a 200 raise Unavailable.
        """
        path = self.path_for(kind, namespace)
        idle = self.watch_idle_timeout if idle_timeout is not None and idle_timeout < 0 else idle_timeout
        last: int | None = None
        rv = resource_version or None
        if rv is not None:
            with contextlib.suppress(ValueError):
                last = int(rv) or None
        failures = 0  # consecutive attempts without a 200: bounded by max_attempts
        answered = False  # did any of those failures come with an HTTP answer?
        quiet = 0  # consecutive connections that delivered no line: drives the backoff
        round_tried: set[int] = set()
        session = self._get_session()
        headers = self._headers()
        timeout = aiohttp.ClientTimeout(total=None, connect=self.connect_timeout, sock_read=idle)
        last_error = ""
        while True:
            idx = self._preferred
            base = self.endpoints[idx]
            params: dict[str, str] = {"watch": "1"}
            if rv is not None:
                params["resourceVersion"] = rv
            if label_selector:
                params["labelSelector"] = label_selector
            if field_selector:
                params["fieldSelector"] = field_selector
            if bookmarks:
                params["allowWatchBookmarks"] = "1"
            # "Any"/"0" starts with ADDED events for what exists, in no rv order: no filtering
            # on that first stream; every resumed stream is filtered strictly.
            strict = last is not None
            floor = 0.0
            got_200 = got_line = refused = False
            try:
                async with session.get(base + path, params=params, headers=headers, timeout=timeout,
                                       ssl=self._ssl_arg) as resp:
                    self._emit_warnings(resp.headers)
                    if resp.status != 200:
                        answered = True
                        raw = await resp.read()
                        err = _error_from_response(resp.status, raw, resp.reason)
                        if resp.status not in (429, 503, 504):
                            raise err
                        refused = resp.status != 504
                        floor = parse_retry_after(resp.headers.get("Retry-After"))
                        raise _Retry(f"{base}: {err.reason}: {err.message}")
                    got_200 = True
                    failures = 0
                    answered = False
                    self._preferred = idx
                    buf = b""
                    async for chunk in resp.content.iter_any():
                        buf += chunk
                        while True:
                            nl = buf.find(b"\n")
                            if nl < 0:
                                break
                            line, buf = buf[:nl].strip(), buf[nl + 1:]
                            if not line:
                                continue  # a keep-alive blank line
                            ev = _decode_event(line)
                            if ev is None:
                                continue
                            if ev.get("type") == "ERROR":
                                _raise_or_retry(ev.get("object"), base)
                            got_line = True
                            r = _rv_int(ev.get("object"))
                            if r is not None:
                                if strict and last is not None and r <= last:
                                    continue
                                last = r if last is None else max(last, r)
                                rv = str(last)
                            yield ev
                    last_error = f"{base}: stream closed"
            except _Retry as e:
                last_error = str(e)
            except (TimeoutError, aiohttp.ClientError) as e:
                refused = isinstance(e, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
                last_error = f"{base}: {type(e).__name__}: {e}"
            if got_line:
                # The stream worked and then ended: resume at once from the last rv.
                quiet = 0
                round_tried.clear()
                continue
            if not got_200:
                failures += 1
                if failures >= self.max_attempts:
                    raise (errors.Unavailable if answered else ConnectionFailed)(f"watch {path}: gave up after {failures} failed attempts; "
                                             f"last error: {last_error}")
            log.debug("watch %s reconnecting: %s", path, last_error)
            self._advance(idx)
            round_tried.add(idx)
            if refused and len(round_tried) < len(self.endpoints):
                continue
            await asyncio.sleep(self._delay(quiet, floor))
            quiet += 1
            round_tried.clear()


class _Retry(Exception):
    """Internal: the watch attempt failed in a retryable way."""


def _decode_event(line: bytes) -> dict | None:
    try:
        ev = _json_loads(line)
    except ValueError:
        log.warning("watch: undecodable line %r", line[:200])
        return None
    return ev if isinstance(ev, dict) else None


def _raise_or_retry(status: Any, base: str) -> None:
    """An ERROR watch event: 410 raises Gone, 429/5xx reconnects, other codes raise."""
    if not isinstance(status, dict):
        status = {"reason": "InternalError", "message": f"watch ERROR event: {status!r}", "code": 500}
    code = status.get("code")
    err = errors.from_status(status, code if isinstance(code, int) else 500)
    if isinstance(err, errors.Gone) or code == 410:
        raise errors.Gone(err.message, details=err.details)
    if isinstance(err, errors.Unavailable | errors.OutcomeUnknown | errors.TooManyRequests) or (
            isinstance(code, int) and code >= 500):
        raise _Retry(f"{base}: watch ERROR {err.reason}: {err.message}")
    raise err


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _json_loads(raw: bytes) -> Any:
    return json.loads(raw)
