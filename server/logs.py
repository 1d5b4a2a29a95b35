"""Structured logs: one line per request or job event, as key=value pairs."""
import logging

logger = logging.getLogger("robust_canvas")  # one logger for the server: api, jobs and store


def _value(v) -> str:
    text = f"{v:.1f}" if isinstance(v, float) else str(v)
    return f'"{text}"' if not text or any(c in text for c in ' "=') else text


def log(event: str, level: int = logging.INFO, **fields) -> None:
    logger.log(level, " ".join([f"event={event}", *(f"{k}={_value(v)}" for k, v in fields.items())]))
