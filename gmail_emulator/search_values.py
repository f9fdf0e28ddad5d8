"""Value parsers for Gmail search operators: dates, relative ages and sizes.

Separate from ``search`` so the grammar stays readable; each parser raises a 400 that
names the operator and the bad value, as a client would need to fix its query.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from . import errors

_DAY_MS = 86_400_000
_AGE_UNITS_MS = {"d": _DAY_MS, "m": 30 * _DAY_MS, "y": 365 * _DAY_MS}
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}

_YMD = re.compile(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})")
_MDY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_EPOCH = re.compile(r"\d+")
_AGE = re.compile(r"(\d+)([dmy])", re.IGNORECASE)
_SIZE = re.compile(r"(\d+)\s*([kmg]?)b?", re.IGNORECASE)


def parse_date_ms(op: str, value: str) -> int:
    """``after:``/``before:`` value as epoch ms: YYYY/MM/DD, YYYY-MM-DD, MM/DD/YYYY (UTC
    midnight) or epoch seconds."""
    value = value.strip()
    if m := _YMD.fullmatch(value):
        year, month, day = (int(g) for g in m.groups())
    elif m := _MDY.fullmatch(value):
        month, day, year = (int(g) for g in m.groups())
    elif _EPOCH.fullmatch(value):
        return int(value) * 1000
    else:
        raise _bad(op, value, "a date like 2024/01/31 or epoch seconds")
    try:
        moment = datetime(year, month, day, tzinfo=timezone.utc)
    except ValueError:
        raise _bad(op, value, "a valid calendar date") from None
    return int(moment.timestamp()) * 1000


def parse_relative_ms(op: str, value: str) -> int:
    """``older_than:``/``newer_than:`` age as ms: Nd, Nm (30-day months) or Ny (365 days)."""
    m = _AGE.fullmatch(value.strip())
    if m is None:
        raise _bad(op, value, "an age like 7d, 2m or 1y")
    return int(m.group(1)) * _AGE_UNITS_MS[m.group(2).lower()]


def parse_size(op: str, value: str) -> int:
    """``larger:``/``smaller:``/``size:`` value in bytes: 1000, 500K, 10M, 1G (binary units)."""
    m = _SIZE.fullmatch(value.strip())
    if m is None:
        raise _bad(op, value, "a size like 1000, 500K or 10M")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]


def _bad(op: str, value: str, expected: str) -> errors.GmailError:
    return errors.bad_request(f"Invalid search query: {op}:{value} is not {expected}")
