"""What a compact record shares with a frozen dataclass: equality, hash, repr, immutability
and pickling, all from its public fields (``__match_args__``).

The records held once per Service (issue 19: ``lbtui plan`` of 100k Services) keep their
fields packed in a few slots and give them back as properties, so the dataclass machinery
cannot be used; a record subclasses this, sets its slots with ``object.__setattr__``, and may
override :meth:`_fields` with a cheaper tuple that is equal exactly when the public fields are.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any


class CompactRecord:
    __slots__ = ()
    __match_args__: tuple[str, ...] = ()

    def _public(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__match_args__)

    def _fields(self) -> tuple[Any, ...]:
        """What equality and the hash compare (by default the public fields)."""
        return self._public()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{type(self).__name__}({inner})"

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._public())
