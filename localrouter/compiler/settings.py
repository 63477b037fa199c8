"""The config's settings (``server``, ``health``, ``logging``, ``state_dir``) compiled once.

:func:`compile_settings` turns the validated specs into frozen dataclasses the table holds as
``RoutingTable.settings``: every key typed, lists as tuples, ``state_dir`` resolved to an absolute
path, and the values the runtime uses computed here rather than at each request —
``ServerSettings.max_body_bytes`` (the body limit in bytes), ``ResponsesSettings`` (how long
stored responses are kept, in seconds, and their size bound in bytes) and
``LoggingSettings.level_no`` (the ``logging`` level number). A reload compiles a new table, so
a changed setting reaches its readers with the table they read it from. The table's sha is
computed from the config, not from these values (``compile.py: table_sha``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from localrouter.config.spec import (
    ConfigSpec,
    HealthSpec,
    LoggingSpec,
    ResponsesSpec,
    ServerSpec,
)
from localrouter.config.units import window_seconds

MetricsAccess = Literal["loopback", "public", "admin"]
HttpServer = Literal["hypercorn", "uvicorn", "granian"]
LogLevel = Literal["debug", "info", "warning", "error"]
LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
MIB = 1024 * 1024


@dataclass(frozen=True)
class ResponsesSettings:
    """Stored responses (``server.responses``): kept ``retention_s``, at most ``max_bytes``."""

    retention_s: float = 30 * 86400.0
    max_bytes: int = 512 * MIB

    @classmethod
    def from_spec(cls, s: ResponsesSpec) -> ResponsesSettings:
        return cls(float(window_seconds(s.retention)), int(s.max_mb * MIB))


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    cors_origins: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    max_body_mb: float
    metrics: MetricsAccess  # who may read GET /metrics without a key
    http_server: HttpServer  # fixed at start (a change needs a restart)
    responses: ResponsesSettings = ResponsesSettings()  # stored responses; applied on reload
    dashboard: bool = True  # the dashboard and /admin/api/... served (to admin clients)
    max_body_bytes: int = field(init=False)  # the request body limit, from max_body_mb

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_body_bytes", int(self.max_body_mb * MIB))

    @classmethod
    def from_spec(cls, s: ServerSpec) -> ServerSettings:
        return cls(
            host=s.host,
            port=s.port,
            cors_origins=tuple(s.cors_origins),
            allowed_hosts=tuple(s.allowed_hosts),
            max_body_mb=float(s.max_body_mb),
            metrics=s.metrics,
            http_server=s.http_server,
            responses=ResponsesSettings.from_spec(s.responses),
            dashboard=s.dashboard,
        )


@dataclass(frozen=True)
class HealthSettings:
    interval_s: float  # from the start of one check to the start of the next
    timeout_s: float  # a check slower than this failed
    failure_threshold: int  # consecutive failed checks before a provider is unhealthy
    recovery_s: float  # an open breaker's wait before a probe call

    @classmethod
    def from_spec(cls, s: HealthSpec) -> HealthSettings:
        return cls(
            float(s.interval_s), float(s.timeout_s), s.failure_threshold, float(s.recovery_s)
        )


@dataclass(frozen=True)
class LoggingSettings:
    level: LogLevel  # of LocalRouter's own log lines
    access_log: bool
    retention_days: int
    level_no: int = field(init=False)  # ``level`` as a ``logging`` level number

    def __post_init__(self) -> None:
        object.__setattr__(self, "level_no", LEVELS[self.level])

    @classmethod
    def from_spec(cls, s: LoggingSpec) -> LoggingSettings:
        return cls(s.level, s.access_log, s.retention_days)


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    health: HealthSettings
    logging: LoggingSettings
    state_dir: str | None  # absolute; None: nothing is kept on disk


def resolve_state_dir(state_dir: str | None, base_dir: Path | None) -> str | None:
    """``state_dir`` as an absolute path: by default the config's directory (SPEC §1), ``~``
    expanded, a relative one taken from the config's directory. Never raises (LR324 says why)."""
    where = base_dir
    if state_dir:
        where = Path(os.path.expanduser(state_dir))
        if not where.is_absolute() and base_dir is not None:
            where = base_dir / where
    return str(where.absolute()) if where is not None else None


def compile_settings(config: ConfigSpec, base_dir: Path | None = None) -> Settings:
    """The settings of ``config``, whose files are in ``base_dir`` (None: read from no file)."""
    return Settings(
        server=ServerSettings.from_spec(config.server),
        health=HealthSettings.from_spec(config.health),
        logging=LoggingSettings.from_spec(config.logging),
        state_dir=resolve_state_dir(config.state_dir, base_dir),
    )
