"""The ``haplane`` command line: kubectl-like verbs over :class:`haplane.client.Client`.

Each subcommand is one small function registered with :func:`subcommand` (name, help, an
argument-configuring function); :func:`build_parser` turns the table into argparse
subparsers. ``server`` and ``up`` live in their own modules and are imported only when
they run.

Exit codes: 0 success, 1 an error was reported (``Error from server (Reason): message`` on
stderr), 2 usage error (argparse), 130 interrupted. A HaplaneError or a connection failure
never prints a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import importlib
import inspect
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from haplane import errors, output
from haplane.client import Client, ConnectionFailed
from haplane.clientconfig import ClientConfig, ConfigError, load_config, normalize_endpoint

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
APPLY_CONFLICT_RETRIES = 5
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Server-owned metadata that a manifest must not carry into apply's last-applied state.
_SERVER_META = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink",
                "deletionTimestamp", "deletionGracePeriodSeconds")


class UsageError(errors.HaplaneError):
    """A local problem with the command or its input (nothing was sent)."""

    code, reason = 400, "UsageError"


# ----------------------------------------------------------------------------- the table

Runner = Callable[[argparse.Namespace], "int | None | Awaitable[int | None]"]


@dataclass
class Subcommand:
    name: str
    help: str
    run: Runner
    configure: Callable[[argparse.ArgumentParser], None] = lambda p: None
    aliases: tuple[str, ...] = ()
    #: configure only when this subcommand is the one on the command line (its options come
    #: from a module that is slow to import, e.g. the server's)
    lazy: bool = False


SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] | None = None,
               aliases: tuple[str, ...] = (), *, lazy: bool = False) -> Callable[[Runner], Runner]:
    """Register ``fn(args)`` as ``haplane NAME``; ``configure(parser)`` adds its options."""
    def register(fn: Runner) -> Runner:
        SUBCOMMANDS[name] = Subcommand(name, help, fn, configure or (lambda p: None), aliases, lazy)
        return fn
    return register


_VALUED_GLOBALS = frozenset({"--config", "-s", "--server", "--token", "--request-timeout", "--ca"})


def selected_command(argv: list[str]) -> str | None:
    """The subcommand named on a command line (the first token that is not a global option)."""
    skip = False
    for tok in argv:
        if skip:
            skip = False
        elif tok in _VALUED_GLOBALS:
            skip = True
        elif not tok.startswith("-"):
            return tok
    return None


def _global_options(p: argparse.ArgumentParser, default: Any) -> None:
    # Accepted before and after the subcommand; subparsers use SUPPRESS so they do not
    # overwrite a value given before the subcommand.
    p.add_argument("--config", default=default, help="client config file (JSON)")
    p.add_argument("-s", "--server", default=default, help="API endpoint(s), comma-separated (overrides config)")
    p.add_argument("--token", default=default, help="bearer token (overrides config; env HAPLANE_TOKEN)")
    p.add_argument("--request-timeout", type=float, default=default, metavar="SECONDS",
                   help="timeout of each request attempt (default 10)")
    p.add_argument("--ca", default=default, metavar="PEM",
                   help="CA bundle that verifies https endpoints (overrides config; env HAPLANE_CA)")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argparse tree. Lazy subcommands are configured only when ``argv`` selects them."""
    selected = selected_command(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="haplane", description="haplane: a small HA container orchestrator")
    _global_options(parser, None)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, argparse.SUPPRESS)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for sc in SUBCOMMANDS.values():
        sp = subs.add_parser(sc.name, help=sc.help, description=sc.help, parents=[common], aliases=list(sc.aliases))
        if not sc.lazy or selected in (sc.name, *sc.aliases):
            sc.configure(sp)
        sp.set_defaults(_run=sc.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``haplane`` console script; returns the exit code."""
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        result = run(args)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except errors.HaplaneError as e:
        print_error(e)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `haplane get pods | head`: stop quietly; point stdout at devnull so the flush at
        # interpreter exit does not complain again (the recipe in Python's signal docs).
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 1


# ----------------------------------------------------------------------------- errors / io


def format_error(e: errors.HaplaneError) -> str:
    """The one-line message for an error, in kubectl's words."""
    if isinstance(e, UsageError | ConfigError):
        return f"error: {e.message}"
    if isinstance(e, ConnectionFailed):
        return f"Unable to connect to the server: {e.message}"
    return f"Error from server ({e.reason}): {e.message}"


def print_error(e: errors.HaplaneError, stream: TextIO | None = None) -> None:
    print(format_error(e), file=stream or sys.stderr)


def _out(text: str = "") -> None:
    print(text, file=sys.stdout, flush=True)


def _warn(text: str) -> None:
    print(f"Warning: {text}", file=sys.stderr, flush=True)


def _now() -> datetime:
    return datetime.now(UTC)


def make_client(args: argparse.Namespace) -> Client:
    """A Client from ``--server``/``--token``/``--config`` (flags win over the config file)."""
    server = getattr(args, "server", None)
    token = getattr(args, "token", None) or os.environ.get("HAPLANE_TOKEN")
    config_path = getattr(args, "config", None)
    timeout = getattr(args, "request_timeout", None) or 10.0
    ca = getattr(args, "ca", None) or os.environ.get("HAPLANE_CA")
    kwargs: dict[str, Any] = {"timeout": timeout, "on_warning": _warn}
    if server and not config_path:
        endpoints = [normalize_endpoint(e) for e in server.split(",") if e.strip()]
        if not endpoints:
            raise UsageError("--server needs at least one URL")
        return Client(endpoints, token, ssl=ClientConfig(endpoints, ca=ca).ssl_context(), **kwargs)
    cfg = load_config(config_path)
    if ca:
        cfg.ca = ca
    if server:
        cfg.endpoints = [normalize_endpoint(e) for e in server.split(",") if e.strip()]
    if token:
        cfg.token = token
    return Client.from_client_config(cfg, **kwargs)


def _lookup(name: str) -> Any:
    from haplane.model.registry import lookup

    try:
        return lookup(name)
    except errors.NotFound:
        raise UsageError(f'the server doesn\'t have a resource type "{name}"') from None


def dump(doc: Any, fmt: str) -> str:
    """``json`` (indented) or ``yaml`` text of a document."""
    if fmt == "json":
        return json.dumps(doc, indent=4, ensure_ascii=False)
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip("\n")


# ----------------------------------------------------------------------------- manifests


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings (they must survive a JSON round trip)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_manifests(text: str, source: str = "<stdin>") -> list[dict]:
    """Objects in YAML/JSON text: ``---``-separated documents, ``kind: List`` expanded, empty
    documents skipped. Raises UsageError naming ``source`` on bad input."""
    try:
        docs = list(yaml.load_all(text, Loader=_Loader))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise UsageError(f"error parsing {source}: {e}") from None
    out: list[dict] = []

    def add(doc: Any, where: str) -> None:
        if doc is None:
            return
        if not isinstance(doc, dict):
            raise UsageError(f"error parsing {source}: {where} is not an object")
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
            for j, item in enumerate(doc["items"]):
                add(item, f"{where} item {j}")
            return
        if not isinstance(kind, str) or not kind:
            raise UsageError(f"error validating {source}: {where}: kind not set")
        if not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
            raise UsageError(f"error validating {source}: {where} ({kind}): metadata.name not set")
        out.append(doc)

    for i, doc in enumerate(docs):
        add(doc, f"document {i}")
    return out


def read_manifests(paths: Iterable[str], stdin: TextIO | None = None) -> list[dict]:
    """Objects from files, directories (their *.yaml/*.yml/*.json, sorted) or ``-`` (stdin),
    in the order given with Namespaces moved first (stable)."""
    objs: list[dict] = []
    for p in paths:
        if p == "-":
            objs += parse_manifests((stdin or sys.stdin).read(), "<stdin>")
            continue
        path = Path(p)
        if path.is_dir():
            files = sorted(f for f in path.iterdir() if f.suffix in MANIFEST_SUFFIXES and f.is_file())
        elif path.exists():
            files = [path]
        else:
            raise UsageError(f'the path "{p}" does not exist')
        for f in files:
            try:
                text = f.read_text()
            except OSError as e:
                raise UsageError(f"cannot read {f}: {e}") from None
            objs += parse_manifests(text, str(f))
    return namespaces_first(objs)


def namespaces_first(objs: list[dict]) -> list[dict]:
    return sorted(objs, key=lambda o: 0 if o.get("kind") == "Namespace" else 1)


# ----------------------------------------------------------------------------- apply (3-way)

_MISSING: Any = object()


def covers(current: Any, desired: Any) -> bool:
    """Does ``current`` already hold everything ``desired`` says? Dicts may carry extra keys
    (server defaults); lists must match element-wise with the same length."""
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return False
        return all((current.get(k) is None) if v is None else (k in current and covers(current[k], v))
                   for k, v in desired.items())
    if isinstance(desired, list):
        return (isinstance(current, list) and len(current) == len(desired)
                and all(covers(c, d) for c, d in zip(current, desired, strict=True)))
    if isinstance(desired, bool) or isinstance(current, bool):
        return current is desired
    return current == desired


def three_way_patch(original: Any, modified: dict, current: dict) -> dict:
    """A JSON merge patch taking ``current`` to ``modified`` (the manifest), given
    ``original`` (the manifest last applied). Keys the manifest dropped since ``original``
    are deleted; keys others added (and server defaults) are kept; lists are replaced
    whole when they differ. ``{}`` means nothing to change."""
    original = original if isinstance(original, dict) else {}
    patch: dict[str, Any] = {}
    for k, mv in modified.items():
        cv = current.get(k, _MISSING)
        ov = original.get(k, _MISSING)
        if mv is None:
            if cv is not _MISSING and cv is not None:
                patch[k] = None
        elif isinstance(mv, dict) and isinstance(cv, dict):
            sub = three_way_patch(ov, mv, cv)
            if sub:
                patch[k] = sub
        elif cv is _MISSING or not covers(cv, mv) or (ov is not _MISSING and ov != mv):
            patch[k] = mv
    for k in original:
        if k not in modified and k in current:
            patch[k] = None
    return patch


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (returns a new value; inputs are not modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def desired_state(obj: dict) -> dict:
    """The manifest as apply records it: no status, no server-owned metadata, no last-applied."""
    d = copy.deepcopy(obj)
    d.pop("status", None)
    meta = d.setdefault("metadata", {})
    for k in _SERVER_META:
        meta.pop(k, None)
    ann = meta.get("annotations")
    if isinstance(ann, dict):
        ann.pop(LAST_APPLIED, None)
        if not ann:
            meta.pop("annotations")
    return d


def _canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _with_last_applied(obj: dict, applied: str) -> dict:
    meta = obj.setdefault("metadata", {})
    ann = meta.get("annotations")
    meta["annotations"] = dict(ann) if isinstance(ann, dict) else {}
    meta["annotations"][LAST_APPLIED] = applied
    return obj


def _target(obj: dict, namespace: str | None) -> tuple[Any, str | None, str]:
    """(KindInfo, namespace, name) of a manifest object; fills apiVersion and namespace in."""
    info = _lookup(str(obj["kind"]))
    obj.setdefault("apiVersion", info.api_version)
    meta = obj["metadata"]
    ns: str | None = None
    if info.namespaced:
        own = meta.get("namespace")
        if own and namespace and own != namespace:
            raise UsageError(f'the namespace from the provided object "{own}" does not match the namespace '
                             f'"{namespace}". You must pass \'--namespace={own}\' to perform this operation.')
        ns = own or namespace or "default"
        meta["namespace"] = ns
    return info, ns, str(meta["name"])


async def apply_object(client: Client, obj: dict, namespace: str | None = None) -> str:
    """Create ``obj`` if absent, else bring it to the manifest with a three-way merge and a
    CAS update (retried on Conflict). Returns ``created``, ``configured`` or ``unchanged``.
    The manifest is recorded in the ``last-applied-configuration`` annotation, as kubectl does."""
    obj = copy.deepcopy(obj)
    info, ns, name = _target(obj, namespace)
    desired = desired_state(obj)
    applied = _canonical(desired)
    for _ in range(APPLY_CONFLICT_RETRIES):
        try:
            current = await client.get(info.kind, name, ns)
        except errors.NotFound:
            try:
                await client.create(_with_last_applied(copy.deepcopy(desired), applied))
                return "created"
            except errors.AlreadyExists:
                continue  # created meanwhile: configure it instead
        ann = (current.get("metadata") or {}).get("annotations") or {}
        last_raw = ann.get(LAST_APPLIED)
        try:
            original = json.loads(last_raw) if isinstance(last_raw, str) else {}
        except ValueError:
            original = {}
        patch = three_way_patch(original, desired, current)
        if not patch and last_raw == applied:
            return "unchanged"
        new = _with_last_applied(merge_patch(current, patch), applied)
        new["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
        try:
            await client.update(new)
            return "configured"
        except errors.Conflict:
            continue
    raise errors.Conflict(f'{info.plural} "{name}": the object kept changing; gave up after '
                          f"{APPLY_CONFLICT_RETRIES} attempts")


# ----------------------------------------------------------------------------- get


@dataclass
class Target:
    info: Any  # KindInfo
    names: list[str] = field(default_factory=list)


ALL_KINDS = ("pods", "services", "deployments")


def parse_targets(resources: list[str]) -> list[Target]:
    """``pods``, ``pods,svc [NAME...]``, ``pod/web svc/web``, ``all`` → targets per kind."""
    if not resources:
        raise UsageError("you must specify the type of resource to get")
    targets: list[Target] = []
    if "/" in resources[0]:
        by_kind: dict[str, Target] = {}
        for r in resources:
            kind, sep, name = r.partition("/")
            if not sep or not kind or not name:
                raise UsageError(f"there is no need to specify a resource type as a separate argument when "
                                 f"passing arguments in resource/name form (got {r!r})")
            info = _lookup(kind)
            by_kind.setdefault(info.kind, Target(info)).names.append(name)
        return list(by_kind.values())
    kinds = [k for k in resources[0].split(",") if k]
    expanded: list[str] = []
    for k in kinds:
        expanded += list(ALL_KINDS) if k.lower() == "all" else [k]
    names = resources[1:]
    seen: set[str] = set()
    for k in expanded:
        info = _lookup(k)
        if info.kind not in seen:
            seen.add(info.kind)
            targets.append(Target(info, list(names)))
    return targets


def _typed(obj: dict, info: Any) -> dict:
    obj.setdefault("kind", info.kind)
    obj.setdefault("apiVersion", info.api_version)
    return obj


def _namespace(args: argparse.Namespace) -> str | None:
    """None = all namespaces (-A)."""
    if getattr(args, "all_namespaces", False):
        return None
    return getattr(args, "namespace", None) or "default"


def _configure_get(p: argparse.ArgumentParser) -> None:
    p.add_argument("resources", nargs="+", metavar="KIND[,KIND...] [NAME...]")
    _ns_options(p, all_namespaces=True)
    p.add_argument("-l", "--selector", help="label selector, e.g. app=web,tier!=db")
    p.add_argument("--field-selector", help="field selector, e.g. spec.nodeName=n1")
    p.add_argument("-o", "--output", choices=["wide", "json", "yaml", "name"], help="output format")
    p.add_argument("-w", "--watch", action="store_true", help="after listing, watch for changes")


def _ns_options(p: argparse.ArgumentParser, *, all_namespaces: bool = False) -> None:
    p.add_argument("-n", "--namespace", help="namespace (default: default)")
    if all_namespaces:
        p.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")


@subcommand("get", "Display one or many resources", _configure_get)
async def cmd_get(args: argparse.Namespace) -> int:
    targets = parse_targets(args.resources)
    ns = _namespace(args)
    if args.watch and (len(targets) != 1 or len(targets[0].names) > 1):
        raise UsageError("watch is only supported on a single resource kind and at most one name")
    rc = 0
    async with make_client(args) as client:
        # (target, objects, list resourceVersion) per kind
        results: list[tuple[Target, list[dict], str | None]] = []
        for t in targets:
            if t.names:
                objs = []
                for name in t.names:
                    try:
                        objs.append(_typed(await client.get(t.info.kind, name, ns or "default"), t.info))
                    except errors.NotFound as e:
                        print_error(e)
                        rc = 1
                results.append((t, objs, None))
            else:
                lst = await client.list(t.info.kind, ns if t.info.namespaced else None,
                                        label_selector=args.selector, field_selector=args.field_selector)
                objs = [_typed(o, t.info) for o in lst.get("items") or []]
                results.append((t, objs, (lst.get("metadata") or {}).get("resourceVersion")))
        if args.watch and args.output in (None, "wide"):
            from haplane.progress import make_reporter

            with make_reporter() as rep:
                if rep.live:  # a terminal: one table, redrawn in place as events arrive
                    t, objs, rv = results[0]
                    await _watch_live(client, args, t, ns, objs, rv, rep)
                    return rc
        widths = _print_results(args, results, ns)
        if args.watch:
            await _watch(client, args, targets[0], ns, results[0][2], widths)
    return rc


def _print_results(args: argparse.Namespace, results: list[tuple[Target, list[dict], str | None]],
                   ns: str | None) -> list[int] | None:
    """Print what ``get`` found; returns the column widths of a single table (for -w)."""
    fmt = args.output
    all_objs = [o for _, objs, _ in results for o in objs]
    if fmt in ("json", "yaml"):
        single = len(results) == 1 and len(results[0][0].names) == 1
        if single and all_objs:
            _out(dump(all_objs[0], fmt))
        elif len(results) == 1 and not results[0][0].names:
            t, objs, rv = results[0]
            _out(dump({"apiVersion": t.info.api_version, "kind": t.info.list_kind,
                       "metadata": {"resourceVersion": rv or ""}, "items": objs}, fmt))
        elif all_objs or not single:
            _out(dump({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                       "items": all_objs}, fmt))
        return None
    if fmt == "name":
        for o in all_objs:
            _out(output.resource_name(o))
        return None
    if not all_objs and not args.watch:
        if not any(t.names for t, _, _ in results):
            where = " in " + ns + " namespace" if ns is not None and any(
                t.info.namespaced for t, _, _ in results) else ""
            print(f"No resources found{where}.", file=sys.stderr)
        return None
    now = _now()
    wide = fmt == "wide"
    multi = len(results) > 1
    widths: list[int] | None = None
    first = True
    for t, objs, _ in results:
        if not objs and not args.watch:
            continue
        headers, rows = output.table(t.info.kind, objs, now, wide=wide,
                                     namespace_column=ns is None and t.info.namespaced, kind_prefix=multi)
        widths = output.column_widths(headers, rows)
        if not first:
            _out()
        first = False
        _out(output.render(headers, rows, widths=widths))
    return widths


async def _watch_events(client: Client, args: argparse.Namespace, t: Target, ns: str | None,
                        rv: str | None) -> Any:
    """The watch of ``get -w`` as ``("event", type, obj)`` until interrupted; after a 410 Gone a
    ``("relist", None, items)`` with the current objects, then the events from there on."""
    info = t.info
    field_sel = args.field_selector
    if t.names:
        by_name = f"metadata.name={t.names[0]}"
        field_sel = f"{field_sel},{by_name}" if field_sel else by_name
    watch_ns = ns if info.namespaced else None
    relist = False
    while True:
        if rv is None:
            # A get by name has no list resourceVersion yet; after 410 Gone, relist and show
            # the current state before watching on.
            lst = await client.list(info.kind, watch_ns, label_selector=args.selector, field_selector=field_sel)
            rv = (lst.get("metadata") or {}).get("resourceVersion")
            if relist:
                yield "relist", None, [_typed(obj, info) for obj in lst.get("items") or []]
        try:
            async for ev in client.watch(info.kind, watch_ns, resource_version=rv, label_selector=args.selector,
                                         field_selector=field_sel):
                if ev.get("type") == "BOOKMARK":
                    continue
                yield "event", ev.get("type"), _typed(ev.get("object") or {}, info)
        except errors.Gone:
            rv, relist = None, True  # too old: relist and go on from the fresh resourceVersion


async def _watch(client: Client, args: argparse.Namespace, t: Target, ns: str | None, rv: str | None,
                 widths: list[int] | None) -> None:
    """Print one row (or document) per event until interrupted; relist on 410 Gone."""
    all_ns = ns is None and t.info.namespaced
    async for what, _, payload in _watch_events(client, args, t, ns, rv):
        for obj in payload if what == "relist" else [payload]:
            _print_event_object(args, t.info, obj, all_ns, widths)


async def _watch_live(client: Client, args: argparse.Namespace, t: Target, ns: str | None, objs: list[dict],
                      rv: str | None, rep: Any) -> None:
    """``get -w`` on a terminal: the table of the current objects, redrawn on every event."""
    kind, all_ns, wide = t.info.kind, ns is None and t.info.namespaced, args.output == "wide"
    current: dict[tuple[str, str], Any] = {output.object_key(o): o for o in objs}
    events, last = 0, "no event yet"

    def redraw() -> None:
        rep.show(output.watched_table(kind, current, _now(), wide=wide, namespace_column=all_ns))
        rep.status(f"watching {t.info.plural}", detail=f"{len(current)} shown · {events} events · last: {last}")

    redraw()
    async for what, ev_type, payload in _watch_events(client, args, t, ns, rv):
        if what == "relist":
            current = {output.object_key(o): o for o in payload}
            last = "relisted (410 Gone)"
        else:
            events += 1
            output.apply_watch_event(current, str(ev_type), payload)
            last = f"{ev_type} {output.resource_name(payload)}"
        redraw()


def _print_event_object(args: argparse.Namespace, info: Any, obj: dict, all_ns: bool,
                        widths: list[int] | None) -> None:
    if args.output in ("json", "yaml"):
        _out(dump(obj, args.output) + ("\n---" if args.output == "yaml" else ""))
    elif args.output == "name":
        _out(output.resource_name(obj))
    else:
        row = output.row_for(info.kind, obj, _now(), wide=args.output == "wide", namespace_column=all_ns)
        _out(output.render_row(row, widths or output.column_widths([], [row])))


# ----------------------------------------------------------------------------- apply / create / delete


def _configure_apply(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--filename", action="append", required=True,
                   help="manifest file, directory or - for stdin (repeatable)")
    _ns_options(p)


def _result_line(obj: dict, verb: str) -> str:
    return f"{output.resource_name(obj)} {verb}"


async def _each_manifest(args: argparse.Namespace, act: Callable[[Client, dict], Awaitable[str]]) -> int:
    """Run ``act`` on every manifest object and print its result line; an API error on one object
    is printed and the others go on (exit 1), a connection failure ends the command."""
    rc = 0
    async with make_client(args) as client:
        for obj in read_manifests(args.filename):
            try:
                line = await act(client, obj)
            except errors.HaplaneError as e:
                if isinstance(e, ConnectionFailed):
                    raise
                print_error(e)
                rc = 1
                continue
            _out(line)
    return rc


@subcommand("apply", "Create or update resources from manifests", _configure_apply)
async def cmd_apply(args: argparse.Namespace) -> int:
    async def apply(client: Client, obj: dict) -> str:
        verb = await apply_object(client, obj, args.namespace)
        return _result_line(_typed(dict(obj), _lookup(obj["kind"])), verb)
    return await _each_manifest(args, apply)


@subcommand("create", "Create resources from manifests", _configure_apply)
async def cmd_create(args: argparse.Namespace) -> int:
    async def create(client: Client, obj: dict) -> str:
        obj = copy.deepcopy(obj)
        _target(obj, args.namespace)
        await client.create(obj)
        return _result_line(obj, "created")
    return await _each_manifest(args, create)


def _configure_delete(p: argparse.ArgumentParser) -> None:
    p.add_argument("resources", nargs="*", metavar="KIND NAME...")
    p.add_argument("-f", "--filename", action="append", help="manifest file, directory or -")
    p.add_argument("-l", "--selector", help="delete every object of KIND matching this label selector")
    p.add_argument("--ignore-not-found", action="store_true", help="a missing object is not an error")
    _ns_options(p)


@subcommand("delete", "Delete resources by kind and name, by selector, or from manifests", _configure_delete)
async def cmd_delete(args: argparse.Namespace) -> int:
    todo: list[tuple[Any, str | None, str]] = []  # (KindInfo, namespace, name)
    if args.filename:
        if args.resources:
            raise UsageError("pass either -f or KIND NAME, not both")
        for obj in reversed(read_manifests(args.filename)):
            info, ns, name = _target(copy.deepcopy(obj), args.namespace)
            todo.append((info, ns, name))
    rc = 0
    async with make_client(args) as client:
        if not args.filename:
            if not args.resources:
                raise UsageError("you must specify the type of resource to delete, or -f FILE")
            targets = parse_targets(args.resources)
            ns = args.namespace or "default"
            for t in targets:
                names = list(t.names)
                if args.selector:
                    lst = await client.list(t.info.kind, ns if t.info.namespaced else None,
                                            label_selector=args.selector)
                    names += [o["metadata"]["name"] for o in lst.get("items") or []]
                elif not names:
                    raise UsageError("resource name(s) or -l SELECTOR required")
                todo += [(t.info, ns if t.info.namespaced else None, n) for n in names]
            if args.selector and not todo:
                print("No resources found", file=sys.stderr)
        for info, ns, name in todo:
            try:
                await client.delete(info.kind, name, ns)
            except errors.NotFound as e:
                if not args.ignore_not_found:
                    print_error(e)
                    rc = 1
                continue
            _out(f'{output.kind_ref(info.kind, info.api_version)} "{name}" deleted')
    return rc


# ----------------------------------------------------------------------------- cluster


def _configure_cluster(p: argparse.ArgumentParser) -> None:
    from haplane import members

    p.add_argument("action", choices=["status", "members", "add-member", "remove-member"],
                   help="status: the replicas and their progress; members: the Raft configuration; "
                        "add-member / remove-member: change it (see haplane.members)")
    p.add_argument("member", nargs="?", metavar="NAME", help="remove-member: the member to remove")
    p.add_argument("-o", "--output", choices=["json", "yaml"], help="output format (default: a table)")
    members.add_arguments(p)


@subcommand("cluster", "Inspect the replicas; add or remove members", _configure_cluster)
async def cmd_cluster(args: argparse.Namespace) -> int:
    if args.action != "status":
        from haplane import members

        async with make_client(args) as client:
            return await members.run(client, args)
    async with make_client(args) as client:
        status = await client.cluster_status()
    if args.output:
        _out(dump(status, args.output))
        return 0
    headers, rows = output.cluster_rows(status)
    _out(output.render(headers, rows))
    if not status.get("leader"):
        print("Warning: no leader: writes will fail until one is elected", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- kubeconfig


def _configure_kubeconfig(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="FILE", help="write it here (mode 0600) instead of to stdout")
    p.add_argument("--namespace", metavar="NS", help="the context's default namespace")
    p.add_argument("--user", default="admin", help="the user's name in the kubeconfig (default admin)")
    p.add_argument("--name", default="haplane", help="the cluster's and the context's name (default haplane)")


@subcommand("kubeconfig", "Print (or --out FILE) a kubeconfig for kubectl and the Kubernetes clients; "
                          "--server URL picks the address (default: the API load balancer where one runs)",
            _configure_kubeconfig)
def cmd_kubeconfig(args: argparse.Namespace) -> int:
    from haplane import kubeconfig

    server = getattr(args, "server", None)
    token = getattr(args, "token", None) or os.environ.get("HAPLANE_TOKEN")
    ca = getattr(args, "ca", None) or os.environ.get("HAPLANE_CA")
    servers = [normalize_endpoint(e) for e in (server or "").split(",") if e.strip()]
    try:
        cfg = load_config(getattr(args, "config", None))
    except ConfigError:
        if not (servers and token):
            raise
        cfg = ClientConfig(servers)
    if token:
        cfg.token = token
    if ca:
        cfg.ca = ca
    try:
        text = kubeconfig.from_client_config(cfg, servers[0] if servers else None, name=args.name,
                                             user=args.user, namespace=args.namespace)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.out:
        kubeconfig.write(args.out, text)
        print(f"kubeconfig written to {args.out}; use it with: export KUBECONFIG={os.path.abspath(args.out)}",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


# ----------------------------------------------------------------------------- logs


def _configure_logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("pod", metavar="POD", help="pod name (or pod/NAME)")
    p.add_argument("-c", "--container", help="container name (required when the pod has several)")
    p.add_argument("-f", "--follow", action="store_true", help="keep streaming output until interrupted")
    p.add_argument("--tail", type=int, default=None, metavar="N", help="only the last N lines")
    _ns_options(p)


def logs_request(args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    """The API path and query of ``haplane logs`` (pure)."""
    name = args.pod
    for prefix in ("pod/", "pods/", "po/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if not name or "/" in name:
        raise UsageError(f"bad pod name {args.pod!r}")
    params: dict[str, str] = {}
    if args.container:
        params["container"] = args.container
    if args.tail is not None:
        if args.tail < 0:
            raise UsageError("--tail must not be negative")
        params["tailLines"] = str(args.tail)
    if args.follow:
        params["follow"] = "1"
    return f"/api/v1/namespaces/{args.namespace or 'default'}/pods/{name}/log", params


@subcommand("logs", "Print the logs of a container in a pod (read from its node, never the Raft log)",
            _configure_logs)
async def cmd_logs(args: argparse.Namespace) -> int:
    path, params = logs_request(args)
    out = sys.stdout.buffer
    async with make_client(args) as client:
        if not args.follow:
            _, _, body = await client.request_raw("GET", path, params=params)
            out.write(body)
            out.flush()
            return 0
        await _follow(client, path, params, out)
    return 0


async def _follow(client: Client, path: str, params: dict[str, str], out: Any) -> None:
    """Stream a followed log to ``out`` until the container ends or the user interrupts.

    The Client's request methods read whole bodies, so this opens the stream itself: each
    endpoint in turn until one answers (a refused connection moves on); an error answer
    raises its HaplaneError. A stream that drops after it began simply ends, as kubectl's.
    """
    import aiohttp

    last = ""
    n = len(client.endpoints)
    timeout = aiohttp.ClientTimeout(total=None, connect=client.connect_timeout, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for i in range(n):
            base = client.endpoints[(client.endpoints.index(client.current_endpoint) + i) % n]
            try:
                async with session.get(base + path, params=params, headers=client._headers(),
                                       ssl=client._ssl_arg) as resp:
                    if resp.status != 200:
                        body = await resp.read()
                        if resp.status == 503 and i < n - 1:
                            last = f"{base}: 503"
                            continue
                        try:
                            doc = json.loads(body)
                        except ValueError:
                            doc = {"message": body.decode(errors="replace")[:500] or f"HTTP {resp.status}"}
                        raise errors.from_status(doc if isinstance(doc, dict) else {}, resp.status)
                    async for chunk in resp.content.iter_any():
                        out.write(chunk)
                        out.flush()
                    return
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                last = f"{base}: {exc}"
            except aiohttp.ClientPayloadError:
                return
    raise ConnectionFailed(f"GET {path}: no endpoint answered; last error: {last}")


# ----------------------------------------------------------------------------- server / up (lazy)


def lazy(module: str, function: str) -> Runner:
    """A runner importing ``module.function`` only when the subcommand runs."""
    def run(args: argparse.Namespace) -> Any:
        try:
            mod = importlib.import_module(module)
            fn = getattr(mod, function)
        except ImportError as e:
            raise UsageError(f"`haplane {args.command}` is not available in this build "
                             f"({module}.{function}: {e})") from None
        except AttributeError:
            raise UsageError(f"`haplane {args.command}` is not available in this build "
                             f"({module} has no {function})") from None
        return fn(args)
    return run


def lazy_options(module: str) -> Callable[[argparse.ArgumentParser], None]:
    """Options from ``module.add_arguments(parser)``, imported only when that subcommand runs."""
    def configure(p: argparse.ArgumentParser) -> None:
        importlib.import_module(module).add_arguments(p)
    return configure


subcommand("server", "Run one API/Raft replica", lazy_options("haplane.server"),
           lazy=True)(lazy("haplane.server", "main_server"))
subcommand("up", "Start a local cluster (replicas + agents) in the foreground",
           lazy_options("haplane.up"), lazy=True)(lazy("haplane.up", "main_up"))
subcommand("snapshot", "Save a consistent snapshot of the store, or seed a new replica with one",
           lazy_options("haplane.snapshot"), lazy=True)(lazy("haplane.snapshot", "main_snapshot"))
subcommand("api-lb", "Run an API load balancer: one address for kubectl, the ready replicas behind it",
           lazy_options("haplane.apilb"), lazy=True)(lazy("haplane.apilb", "main_lb"))
subcommand("certs", "Generate a CA and server certificates for the API (TLS)",
           lazy_options("haplane.certs"), lazy=True)(lazy("haplane.certs", "main_certs"))
subcommand("top", "Show the CPU and memory use of nodes or pods (the metrics API, read from the agents)",
           lazy_options("haplane.cli_top"), lazy=True)(lazy("haplane.cli_top", "main_top"))
subcommand("chaos", "Break a local cluster on purpose and check nothing is lost (chaos harness)",
           lazy_options("chaos.cli"), lazy=True)(lazy("chaos.cli", "main"))


from haplane import cli_workloads  # noqa: E402,F401 - registers scale, rollout, cordon, drain, describe

if __name__ == "__main__":
    sys.exit(main())
