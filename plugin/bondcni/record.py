"""Frozen records: fields from the class annotations, defaults from class attributes.

What the plugin used dataclasses(frozen=True) for, without their start-up cost (dataclasses imports inspect
and typing: ~45 modules, ~43 ms per exec in the lab VM).
"""

from __future__ import annotations


class Record:
    """Subclass, annotate the fields (defaults as class attributes); instances are immutable."""

    _fields: tuple = ()

    def __init_subclass__(cls) -> None:
        fields: list = []
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__annotations__", {}):
                if not name.startswith("_") and name not in fields:
                    fields.append(name)
        cls._fields = tuple(fields)

    def __init__(self, *args: object, **kwargs: object) -> None:
        cls = type(self)
        if len(args) > len(cls._fields):
            raise TypeError(f"{cls.__name__} takes {len(cls._fields)} fields, got {len(args)}")
        values = dict(zip(cls._fields, args))
        for key, value in kwargs.items():
            if key not in cls._fields or key in values:
                raise TypeError(f"{cls.__name__}: unexpected or repeated field {key!r}")
            values[key] = value
        for name in cls._fields:
            if name not in values:
                if not hasattr(cls, name):
                    raise TypeError(f"{cls.__name__}: missing field {name!r}")
                values[name] = getattr(cls, name)
        for name in cls._fields:  # instance attributes shadow the class's defaults
            object.__setattr__(self, name, values[name])

    @property
    def _values(self) -> dict:
        return {name: self.__dict__[name] for name in self._fields}

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    __delattr__ = __setattr__

    def replace(self, **changes: object) -> Record:
        return type(self)(**dict(self._values, **changes))

    def as_dict(self) -> dict:
        return dict(self._values)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._values == self._values

    def __hash__(self) -> int:
        return hash((type(self).__name__, *(repr(v) for v in self._values.values())))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({inner})"
