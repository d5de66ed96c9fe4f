"""deploy/systemd's units as systemd reads them, for tests: an EnvironmentFile's variables, and
a unit's ExecStart turned into the argv systemd would exec."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def parse_env_text(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines as systemd's EnvironmentFile= reads them (the common subset): blank
    lines and lines starting with ``#`` or ``;`` are skipped, whitespace around the key and the
    value is dropped, a value wholly in matching quotes loses them. There are no trailing
    comments: in ``KEY=1.2.3.4  # note`` the value is ``1.2.3.4  # note`` (src/basic/env-file.c)."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        key, sep, value = stripped.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def unit_argv(unit: Path, env_file: Path, paths: Mapping[str, str] | None = None) -> list[str]:
    """ExecStart of a systemd unit as systemd would run it: continuation lines joined, ``${VAR}``
    replaced by its value, ``$VAR`` split into words (values from ``env_file``).

    ``paths`` maps path prefixes to replacements (e.g. ``/etc/haplane`` to a test's directory):
    a word that is such a path, or lies under it, gets the replacement in its place; nothing else
    changes."""
    env = parse_env_text(env_file.read_text())
    text = unit.read_text().replace("\\\n", " ")
    (exec_start,) = [ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith("ExecStart=")]
    argv: list[str] = []
    for word in exec_start.split():
        if word.startswith("${") and word.endswith("}"):
            argv.append(env[word[2:-1]])
        elif word.startswith("$"):
            argv.extend(env[word[1:]].split())
        else:
            argv.append(word)
    if paths:
        argv = [rewrite_path(word, paths) for word in argv]
    return argv


def rewrite_path(word: str, paths: Mapping[str, str]) -> str:
    """``word`` with the longest matching prefix of ``paths`` replaced (whole path components only:
    ``/var/lib/haplane`` is not under ``/var/lib/hap``)."""
    for prefix in sorted(paths, key=len, reverse=True):
        if word == prefix or word.startswith(prefix.rstrip("/") + "/"):
            return paths[prefix] + word[len(prefix.rstrip("/")):]
    return word


def unit_settings(unit: Path, key: str) -> list[str]:
    """Every value of ``key=`` in the unit (e.g. ``StateDirectory``), in order."""
    return [ln.split("=", 1)[1].strip() for ln in unit.read_text().splitlines() if ln.startswith(f"{key}=")]
