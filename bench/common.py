"""What every benchmark script shares: run the async body, write the JSON result, say where."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any


def finish(args: argparse.Namespace, run: Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]) -> dict:
    """Run ``run(args)``, write its result to ``args.out`` as JSON, print the summary fields."""
    result = asyncio.run(run(args))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}))
    print(f"wrote {args.out}")
    return result
