"""Fixtures of the chaos suite: a site with its own broker database and a process group."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.processes import ProcessGroup
from tests.chaos.harness import Chaos, PrivateRedis
from tests.e2e.helpers import Site, fast_devnet


@pytest.fixture
def chaos_site(tmp_path: Path) -> Iterator[Chaos]:
    """A fast devnet, a SQLite ledger, a hot wallet holding USDT, a private Redis and a process group."""
    server = PrivateRedis(tmp_path).start()
    try:
        with fast_devnet() as devnet:
            site = Site.create(devnet, tmp_path)
            group = ProcessGroup(env={}, workdir=tmp_path)
            try:
                yield Chaos(site, group, server)
            finally:
                group.stop()
                site.close()
    finally:
        server.stop()
