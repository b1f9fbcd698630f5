"""One line per failure for the operator: what is wrong and what to do, never a traceback.

Every ``sweeper`` command runs inside :func:`run`. Project errors (``sweeper/errors.py``) and the common
infrastructure failures (broker, node or database down, a file that cannot be read) become one line on
stderr naming the problem and the fix, and a non-zero exit status; ``--debug`` (or ``SWEEPER_DEBUG=1``)
shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click
import typer
from rich.console import Console
from rich.markup import escape

from config.settings import InvalidSettings
from sweeper.errors import (
    ChainUnavailable,
    ConfigError,
    LedgerUnavailable,
    ProviderAuthError,
    ProviderUnavailable,
    SignerUnavailable,
    SweeperError,
)

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130

_debug = {"on": False}


def set_debug(on: bool) -> None:
    """``--debug``: let tracebacks through."""
    _debug["on"] = on


def debugging() -> bool:
    return _debug["on"] or os.environ.get("SWEEPER_DEBUG", "").strip().lower() in ("1", "true", "yes")


def _masked(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


def _setting(name: str, default: str) -> str:
    """A URL setting for a message: the environment's value, else the default (settings may not load)."""
    return _masked(os.environ.get(name) or default)


def _one(text: object) -> str:
    return " ".join(str(text).split())


def _broker(exc: BaseException) -> str:
    url = _setting("SWEEPER_BROKER_URL", "redis://127.0.0.1:6379/0")
    return (
        f"broker unavailable at {url} ({_one(exc)}): start Redis or fix SWEEPER_BROKER_URL; "
        "`--local` runs the command in this process without the workers"
    )


def _database(exc: BaseException) -> str:
    url = _setting("SWEEPER_DATABASE_URL", "sqlite:///sweeper.sqlite3")
    return f"database unavailable at {url} ({_one(exc)}): start it or fix SWEEPER_DATABASE_URL"


def _node(exc: BaseException) -> str:
    url = _setting("SWEEPER_TRON__NODE_URL", "http://127.0.0.1:9090/")
    return f"TRON node unavailable at {url} ({_one(exc)}): start the node or fix SWEEPER_TRON__NODE_URL"


def _is_broker_error(exc: BaseException) -> bool:
    """kombu's and redis-py's connection failures (imported lazily: most commands never touch them)."""
    from kombu.exceptions import OperationalError as KombuOperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, KombuOperationalError | RedisConnectionError | RedisTimeoutError)


def describe(exc: BaseException) -> list[str]:
    """The operator's lines for ``exc`` (one, or one per configuration problem); empty if unknown."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, InvalidSettings | ConfigError):
        return [f"invalid configuration: {_one(p)}" for p in exc.problems]
    if isinstance(exc, ChainUnavailable):
        return [_node(exc)]
    if isinstance(exc, LedgerUnavailable | SQLAlchemyError):
        return [_database(exc)]
    if isinstance(exc, ProviderAuthError):
        return [f"energy provider refused our credentials ({_one(exc)}): check its SWEEPER_ENERGY__* keys"]
    if isinstance(exc, ProviderUnavailable):
        return [f"energy provider unavailable ({_one(exc)}): try again later, or check its base URL"]
    if isinstance(exc, SignerUnavailable):
        return [f"signer unavailable ({_one(exc)}): start it or fix SWEEPER_KEYS__REMOTE_SIGNER_URL"]
    if isinstance(exc, SweeperError):
        return [f"{_one(exc)} ({exc.reason})"]
    if _is_broker_error(exc):
        return [_broker(exc)]
    import httpx

    if isinstance(exc, httpx.HTTPError):
        return [f"HTTP request failed ({_one(exc)}): check the URL settings and that the service runs"]
    if isinstance(exc, ArithmeticError):
        return [f"amount out of range ({type(exc).__name__}: {_one(exc)}): report this with `--debug` output"]
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return [f"cannot use{where}: {exc.strerror or _one(exc)}"]
    return []


def fail_lines(lines: list[str], stream: Any = None, *, prefix: bool = True) -> None:
    console = Console(stderr=True, soft_wrap=True, file=stream)
    for line in lines:
        console.print(f"[bold red]error:[/] {escape(line)}" if prefix else escape(line), highlight=False)


def run(command: Callable[..., Any]) -> int:
    """Run a click/typer command in standalone mode off; return its exit status.

    Exceptions the operator can act on become one line each; anything else is still one line, naming
    the exception and pointing at ``--debug``.
    """
    try:
        result = command(standalone_mode=False)
    except (click.exceptions.Exit, typer.Exit) as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:  # usage errors: click's own short message
        exc.show()
        return int(exc.exit_code)
    except typer.TyperException as exc:  # the same from the click that typer carries (bad option or value)
        fail_lines([exc.format_message()])
        return int(exc.exit_code)
    except (click.exceptions.Abort, typer.Abort):
        fail_lines(["aborted"])
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        fail_lines(["interrupted"])
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # a module that stops with a message (tasks.app on invalid settings)
        if isinstance(exc.code, str):
            fail_lines([line.strip(" -") for line in exc.code.splitlines() if line.strip()])
            return EXIT_CONFIG
        return int(exc.code or 0)
    except ModuleNotFoundError as exc:
        if exc.name != "devnet" or debugging():  # only the production image leaves the devnet out
            raise
        fail_lines(["the devnet is not installed in this image; use the `devnet` image target"], prefix=False)
        return EXIT_CONFIG
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if debugging():
            raise
        lines = describe(exc)
        if lines:
            fail_lines(lines)
            return EXIT_CONFIG if isinstance(exc, InvalidSettings | ConfigError) else EXIT_ERROR
        fail_lines(
            [f"unexpected {type(exc).__name__}: {_one(exc)} (run again with --debug for the traceback)"]
        )
        return EXIT_ERROR
    return int(result) if isinstance(result, int) else 0


def main(command: Callable[..., Any]) -> None:
    """Exit with :func:`run`'s status."""
    sys.exit(run(command))
