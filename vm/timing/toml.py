"""TOML for the timing profiles on every engine.

CPython 3.11+ has `tomllib`; PyPy 3.9 has neither it nor `tomli`.  Timing
profiles are flat tables of `key = integer` or `key = "string"` lines, so
where no TOML library exists this small reader handles exactly that subset
(plus comments, booleans and `_` digit separators) and rejects anything
else with a TOMLDecodeError naming the line, rather than misreading it.
"""
from __future__ import annotations

import re

try:                                   # CPython 3.11+
    from tomllib import TOMLDecodeError, loads
except ImportError:                    # PyPy 3.9: maybe tomli, else the subset reader below
    try:
        from tomli import TOMLDecodeError, loads
    except ImportError:
        TOMLDecodeError = None          # defined below

if TOMLDecodeError is None:
    class TOMLDecodeError(ValueError):
        pass

    _KEY = re.compile(r"[A-Za-z0-9_-]+$")
    _INT = re.compile(r"[+-]?(0|[1-9](_?[0-9])*)$")
    _BASED = re.compile(r"0(x[0-9A-Fa-f](_?[0-9A-Fa-f])*|o[0-7](_?[0-7])*|b[01](_?[01])*)$")
    _ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}

    def loads(text: str) -> dict:
        """The table of a flat TOML document (no sections, arrays or dates)."""
        table = {}
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            key, sep, rest = stripped.partition("=")
            key = key.strip()
            if not sep or not _KEY.match(key):
                raise TOMLDecodeError(f"line {number}: expected 'key = value' (this reader takes flat tables only)")
            if key in table:
                raise TOMLDecodeError(f"line {number}: '{key}' is set twice")
            table[key] = _value(rest.strip(), number)
        return table

    def _value(text: str, number: int):
        if text.startswith('"'):
            return _string(text, number)
        value = text.split("#", 1)[0].strip()
        if value in ("true", "false"):
            return value == "true"
        if _INT.match(value):
            return int(value.replace("_", ""))
        if _BASED.match(value):
            return int(value.replace("_", ""), 0)
        raise TOMLDecodeError(f"line {number}: unsupported value {value!r} (integers, booleans and strings only)")

    def _string(text: str, number: int) -> str:
        out, i = [], 1
        while i < len(text):
            ch = text[i]
            if ch == '"':
                tail = text[i + 1:].strip()
                if tail and not tail.startswith("#"):
                    raise TOMLDecodeError(f"line {number}: text after the string")
                return "".join(out)
            if ch == "\\":
                if i + 1 >= len(text) or text[i + 1] not in _ESCAPES:
                    raise TOMLDecodeError(f"line {number}: unsupported escape in string")
                out.append(_ESCAPES[text[i + 1]])
                i += 2
                continue
            out.append(ch)
            i += 1
        raise TOMLDecodeError(f"line {number}: unterminated string")

__all__ = ["TOMLDecodeError", "loads"]
