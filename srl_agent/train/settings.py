"""Settings typed by a config dataclass's fields: `-c KEY=VALUE` parsing and coercion of YAML and -c values.

PyYAML reads YAML 1.1, where `1e-5` is a string; a config field says what it wants (a float), so values are
converted to the field's type here, with a one-line ConfigError naming the key (and close matches of an unknown
key) otherwise. Nested dataclass fields (`dynamic_sampling`, `lora`, `reward`, `prefix`) are reached with dots.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from typing import Any

from srl_agent.errors import ConfigError


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """`-c key=value` strings into a nested mapping: dots nest (`dynamic_sampling.epsilon=0.01`), values are YAML
    (`true`, `[a, b]`, `{r: 8}`, `null`), with YAML 1.2 numbers (`1e-5` is a float)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"-c {pair!r}: expected KEY=VALUE, e.g. -c learning_rate=1e-5 or "
                              "-c dynamic_sampling.epsilon=0.01")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        target = out
        *parents, last = key.split(".")
        for part in parents:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"-c {pair!r}: {part} is set to a value earlier, so it cannot hold {last}")
            target = nxt
        target[last] = _yaml12(value)
    return out


def _yaml12(value: Any) -> Any:
    """YAML 1.1 (PyYAML) reads `1e-5` as a string; YAML 1.2, and everyone writing a learning rate, means a float."""
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)[eE][-+]?\d+", value.strip()):
        return float(value)
    if isinstance(value, dict):
        return {k: _yaml12(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_yaml12(v) for v in value]
    return value


def merge_settings(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` over `base`; where both hold a mapping for a key, the mappings merge (recursively)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_settings(out[key], value)
        else:
            out[key] = value
    return out


def coerce_settings(cls: type, values: dict[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    """`values` with each one converted to the type of `cls`'s field of that name; unknown names are an error
    that lists the close matches."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    out = {}
    for key, value in values.items():
        if key not in hints or key not in names:
            close = difflib.get_close_matches(str(key), names, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else f"; known: {', '.join(sorted(names))}"
            raw = " (raw TRL arguments go under trl:, e.g. -c trl.loss_type=dr_grpo)" if not prefix else ""
            raise ConfigError(f"{where}{prefix}{key}: unknown setting of {cls.__name__}{hint}{raw}")
        out[key] = _coerce(_yaml12(value), hints[key], where, f"{prefix}{key}")
    return out


def _coerce_union(value: Any, args: tuple, where: str, name: str) -> Any:
    """`value` as the first arm of an `A | B | None` field that takes it, or one error naming every arm."""
    if value is None and type(None) in args:
        return None
    arms = [a for a in args if a is not type(None)]
    if any(_is_instance(value, a) for a in arms):
        return value
    errors = []
    for arm in arms:
        try:
            return _coerce(value, arm, where, name)
        except ConfigError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    raise ConfigError(f"{where}{name}: expected {' or '.join(_describe(a) for a in arms)}"
                      f"{' or null' if type(None) in args else ''}, got {value!r}")


def _coerce(value: Any, tp: Any, where: str, name: str) -> Any:
    """`value` as type `tp` (the field `name`, set in `where`), or a ConfigError saying what was expected."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, args, where, name)
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}{name}: expected a mapping of "
                              f"{', '.join(f.name for f in dataclasses.fields(tp))}, got {value!r}")
        return coerce_settings(tp, value, where, prefix=name + ".")
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
    elif tp is int and not isinstance(value, bool):
        try:
            number = float(value)
            if number.is_integer():
                return int(number)
        except (TypeError, ValueError):
            pass
    elif tp is float and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    elif origin is list:
        items = [x.strip() for x in value.split(",") if x.strip()] if isinstance(value, str) else value
        if isinstance(items, (list, tuple)):
            return [_coerce(x, args[0], where, name) for x in items] if args else list(items)
    elif origin is dict or tp is dict:
        if isinstance(value, dict):
            return value
    else:  # Any and the like
        return value
    raise ConfigError(f"{where}{name}: expected {_describe(tp)}, got {value!r}")


def _is_instance(value: Any, tp: Any) -> bool:
    if tp is float:
        return isinstance(value, float)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    plain = typing.get_origin(tp) or tp
    return isinstance(plain, type) and not dataclasses.is_dataclass(plain) and isinstance(value, plain)


def _describe(tp: Any) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", dict: "a mapping"}
    if tp in names:
        return names[tp]
    if typing.get_origin(tp) is list:
        return "a list"
    if typing.get_origin(tp) is dict:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))
