"""``SWEEPER_WEB__*``: who may use the operator console and scrape ``/metrics`` (docs/OPERATIONS.md).

Nothing has a default credential: the console is off until a viewer or an operator is configured, and
``/metrics`` is open until a token is. Each credential is ``user:password``; the password is compared in
constant time and never logged (every ``SecretStr`` is masked by the log redactor).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, model_validator

MIN_SESSION_SECRET = 32


class WebSettings(BaseModel):
    operator: SecretStr | None = Field(None, description="user:password that may retry, sweep and pause")
    viewer: SecretStr | None = Field(None, description="user:password that may only look")
    session_secret: SecretStr | None = Field(
        None, description="signs console sessions and CSRF tokens; the same on every web process"
    )
    session_hours: float = Field(12.0, gt=0, le=24 * 7)
    metrics_token: SecretStr | None = Field(None, description="bearer token /metrics then asks for")
    metrics_cache_seconds: float = Field(15.0, ge=0, le=600, description="one ledger read serves this long")
    probe_interval_seconds: float = Field(
        60.0, ge=0, description="how often provider balances are read (0: never, e.g. under test faults)"
    )

    @model_validator(mode="after")
    def _checks(self) -> WebSettings:
        problems = [
            f"SWEEPER_WEB__{name.upper()} must be user:password"
            for name in ("operator", "viewer")
            if (value := getattr(self, name)) is not None and not _credential(value.get_secret_value())
        ]
        if self.console_enabled:
            secret = self.session_secret.get_secret_value() if self.session_secret else ""
            if len(secret) < MIN_SESSION_SECRET:
                problems.append(
                    f"SWEEPER_WEB__SESSION_SECRET must be at least {MIN_SESSION_SECRET} characters "
                    "when the console is on (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def console_enabled(self) -> bool:
        return self.operator is not None or self.viewer is not None


def _credential(value: str) -> tuple[str, str] | None:
    user, sep, password = value.partition(":")
    return (user, password) if sep and user and password else None


def credential(value: SecretStr | None) -> tuple[str, str] | None:
    """``(user, password)`` of a configured ``user:password``, else None."""
    return _credential(value.get_secret_value()) if value is not None else None
