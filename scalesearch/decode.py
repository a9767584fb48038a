"""Strict decoding of plain data (JSON, YAML) into frozen dataclasses.

One decoder serves specs and search spaces alike, so every file a user writes is checked
the same way: unknown keys, missing keys and wrong types are errors that name the key path.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from scalesearch.errors import DecodeError

T = TypeVar("T")


def decode(cls: type[T], data: Any, path: str = "") -> T:
    """Builds `cls` (a dataclass) from nested dicts and lists, strictly.

    Raises:
        DecodeError: a key is unknown or missing, or a value has the wrong type. Errors the
            dataclass itself raises in `__post_init__` (ValueError) are re-raised with the path.
    """
    return _decode_value(cls, data, path)


def _decode_dataclass(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise DecodeError(path, f"must be a mapping, but got {_describe(data)}")
    hints, fields = _schema(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise DecodeError(
            _join(path, str(unknown[0])),
            f"unknown key; allowed keys are: {', '.join(sorted(fields))}",
        )
    kwargs = {}
    for name, field in fields.items():
        if name in data:
            kwargs[name] = _decode_value(hints[name], data[name], _join(path, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise DecodeError(_join(path, name), "is required but missing")
    try:
        return cls(**kwargs)
    except DecodeError:
        raise
    except (ValueError, TypeError) as err:
        raise DecodeError(path, str(err)) from err


@functools.cache
def _schema(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    """A dataclass's resolved type hints and init fields: resolving the hints evaluates
    every annotation string (a spec's decode was 2 ms, most of it here; a 5,000-trial
    report decodes 5,000 specs)."""
    return typing.get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls) if f.init}


def _decode_value(tp: Any, data: Any, path: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, data, path)
    if tp is Any:
        return data
    if origin is Literal:
        allowed = get_args(tp)
        if data not in allowed:
            raise DecodeError(
                path, f"must be one of {', '.join(map(repr, allowed))}, but got {data!r}"
            )
        return data
    if origin in (Union, types.UnionType):
        return _decode_union(tp, data, path)
    if origin is tuple:
        return _decode_tuple(tp, data, path)
    if origin is dict:
        key_tp, value_tp = get_args(tp)
        if not isinstance(data, dict):
            raise DecodeError(path, f"must be a mapping, but got {_describe(data)}")
        return {
            _decode_value(key_tp, k, path): _decode_value(value_tp, v, _join(path, str(k)))
            for k, v in data.items()
        }
    return _decode_scalar(tp, data, path)


def _decode_union(tp: Any, data: Any, path: str) -> Any:
    options = get_args(tp)
    if data is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _decode_value(option, data, path)
        except DecodeError as err:
            errors.append(err)
    if len(errors) == 1:
        raise errors[0]
    # Prefer the error from deepest inside the value: it says most about what is wrong.
    raise max(errors, key=lambda e: len(e.path))


def _decode_tuple(tp: Any, data: Any, path: str) -> tuple:
    if not isinstance(data, (list, tuple)):
        raise DecodeError(path, f"must be a list, but got {_describe(data)}")
    args = get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode_value(args[0], v, f"{path}[{i}]") for i, v in enumerate(data))
    if len(args) != len(data):
        raise DecodeError(path, f"must have {len(args)} items, but got {len(data)}")
    return tuple(_decode_value(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, data)))


def _decode_scalar(tp: Any, data: Any, path: str) -> Any:
    # bool is an int in Python; a YAML `true` where a number belongs is a mistake.
    if tp is float and isinstance(data, (int, float)) and not isinstance(data, bool):
        return float(data)
    if tp is int and isinstance(data, int) and not isinstance(data, bool):
        return data
    if tp in (str, bool) and isinstance(data, tp):
        return data
    name = getattr(tp, "__name__", str(tp))
    raise DecodeError(path, f"must be of type {name}, but got {_describe(data)}")


def encode(value: Any) -> Any:
    """Turns a dataclass tree into plain dicts and lists (JSON/YAML-ready)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"
