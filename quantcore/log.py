"""Structured logs for every process of the platform (structlog over the stdlib).

Services log key=value lines to stderr (or JSON with QUANTCORE_LOG_JSON=true; the
`logging` settings section, which every child process receives), so the same
lines read well in a terminal, in Dagster's captured logs and in a log shipper.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

_configured = False


def configure_logging(level: str = "INFO") -> None:
    global _configured
    if _configured:
        return
    renderer = (
        structlog.processors.JSONRenderer()
        if os.environ.get("QUANTCORE_LOG_JSON", "").lower() in ("1", "true", "yes")
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    _configured = True


def get_logger(name: str, **context: object) -> structlog.typing.FilteringBoundLogger:
    configure_logging(os.environ.get("QUANTCORE_LOG_LEVEL", "INFO"))
    return structlog.get_logger(name).bind(**context)
