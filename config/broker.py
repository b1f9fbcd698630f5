"""kombu's Redis transport with one Redis client per channel for its plain commands.

kombu's Redis channel wraps its connection pool in a new ``redis.Redis`` for every publish, ack and
queue-size call (``Channel.conn_or_acquire`` → ``_create_client``), and building one costs about 85 µs of
CPU (redis-py 6.4, measured here), more than the ``LPUSH`` it then sends: about 3.5 % of a worker's CPU in
the end-to-end profile (docs/ARCHITECTURE.md §10.1). A ``redis.Redis`` holds no connection of its own: it
takes one from the pool for each command, so one client per pool serves every caller, threads included.
The channel's asynchronous client (BRPOP) is kombu's own, untouched.

:func:`install` names it kombu's ``redis`` transport, so a ``redis://`` broker URL keeps its scheme
everywhere it is shown or parsed (Flower reads the broker's queues by the URL's scheme); ``rediss://``
and the other transports are kombu's own.
"""

from __future__ import annotations

from typing import Any

from kombu import transport as kombu_transports
from kombu.transport import redis as kombu_redis

TRANSPORT = f"{__name__}:Transport"
"""How kombu names a transport class: ``module:Class``."""


class Channel(kombu_redis.Channel):
    """Builds its plain client once per connection pool (kombu drops the pool on a disconnect)."""

    _plain: tuple[Any, Any] | None = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        build = super()._create_client  # type: ignore[misc]  # not in kombu's type hints
        if asynchronous:
            return build(asynchronous=True)
        pool, plain = self._plain or (None, None)
        if pool is not self.pool:
            pool, plain = self.pool, build()
            self._plain = (pool, plain)
        return plain


class Transport(kombu_redis.Transport):
    Channel = Channel


def install() -> None:
    """Make ``redis://`` mean this transport in this process. kombu resolves an alias once and keeps the
    class (``get_transport_cls``), so one resolved before this is resolved again."""
    kombu_transports.TRANSPORT_ALIASES["redis"] = TRANSPORT
    vars(kombu_transports).get("_transport_cache", {}).pop("redis", None)  # where kombu 5 keeps them
