"""Optional JSON persistence of the chain (`--state FILE`): loaded on start, saved on stop and often."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from devnet.chain import Chain


def save(chain: Chain, path: str | os.PathLike[str]) -> None:
    """Write atomically (temp file + rename) so a crash mid-write never leaves a torn file."""
    target = Path(path)
    data = chain.snapshot()
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, separators=(",", ":"))
    os.replace(tmp, target)


def load(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved snapshot, or None when the file does not exist yet."""
    target = Path(path)
    if not target.exists():
        return None
    with target.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    if data.get("version") not in (1, 2):  # 1: before per-lock delegations and slot-based usage times
        raise ValueError(f"{target}: unsupported devnet state version {data.get('version')!r}")
    return data
