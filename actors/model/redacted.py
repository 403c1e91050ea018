"""repr() for records that hold a secret: the fields a record names are left out, so a
password cannot reach a log through the record printed whole (a log line, a traceback's
locals, rich's pretty printer)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar


class Redacted:
    """Mix-in for a ``msgspec.Struct``, listed before it in the bases: ``repr()`` and
    ``__rich_repr__`` show every field but those in ``__redacted__``. Equality, hashing and
    pickling still see every field."""

    __slots__ = ()
    __redacted__: ClassVar[frozenset[str]] = frozenset()
    __struct_fields__: ClassVar[tuple[str, ...]]

    def __rich_repr__(self) -> Iterator[tuple[str, Any]]:
        for name in self.__struct_fields__:
            if name not in self.__redacted__:
                yield name, getattr(self, name)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__rich_repr__())
        return f"{type(self).__name__}({shown})"
