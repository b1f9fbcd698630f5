"""The Redis broker transport: kombu's, with one plain Redis client per channel (config/broker.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery
from kombu import Connection
from kombu.transport import get_transport_cls

from config import broker
from config.celery import celery_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def app(redis_broker: str) -> Iterator[Celery]:
    get_transport_cls("redis")  # kombu resolved it before, as another part of the process may have
    broker.install()
    celery = Celery("transport-test")
    celery.conf.update(celery_settings(redis_broker))
    yield celery
    celery.close()


def test_a_redis_url_keeps_its_scheme_and_gets_the_transport_with_one_client_per_channel(
    app: Celery, redis_broker: str
) -> None:
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, broker.Transport)
        assert conn.as_uri().startswith("redis://")  # what Flower and the logs see
        channel = conn.default_channel
        for n in range(20):
            app.send_task("sweeper.advance", kwargs={"sweep_id": n}, queue="transport-test", connection=conn)
        first = channel._create_client()
        assert first is channel._create_client()  # one plain client for every command on the pool
        assert channel._create_client(asynchronous=True) is not first  # BRPOP's stays kombu's own
        assert channel._size("transport-test") == 20

        channel._disconnect_pools()  # what kombu does when the connection drops
        assert channel._create_client() is not first  # a new pool gets a client of its own
        app.send_task("sweeper.advance", kwargs={"sweep_id": 99}, queue="transport-test", connection=conn)
        assert channel._size("transport-test") == 21

    with Connection(redis_broker) as plain:  # any kombu client reads what went through it
        queue = plain.SimpleQueue("transport-test")
        bodies = [queue.get(timeout=2).payload for _ in range(21)]
        queue.close()
    assert len(bodies) == 21


def test_other_brokers_keep_their_own_transport() -> None:
    broker.install()
    assert not isinstance(Connection("memory://").transport, broker.Transport)
    assert not isinstance(Connection("rediss://127.0.0.1:6380/0").transport, broker.Transport)
