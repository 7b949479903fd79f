"""Registries: classes registered under names, looked up by name with an error that lists the known names.

A kind of value that users name by a string (an experimental design such as
``"cre"``, an intervention prefix such as ``"ablate"``) keeps its classes in one
:class:`Registry`. A new kind then registers itself in the file that defines
it, usually from ``__init_subclass__``, and every function that reads the names
knows it at once; no closed list of names is written anywhere else.

Examples
--------
>>> shapes = Registry("shape", argument="shape")
>>> @shapes.register("square")
... class Square:
...     pass
>>> shapes.lookup("square").__name__, shapes.names(), "circle" in shapes
('Square', ('square',), False)
>>> shapes.lookup("circle")
Traceback (most recent call last):
...
ValueError: `shape` must be one of ['square'], got 'circle'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Classes (or any values) registered under unique names; a read-only mapping ``name -> class``.

    Parameters
    ----------
    kind : str
        What the names name, for the messages (``"design"``, ``"intervention prefix"``).
    argument : str
        The argument that usually holds a name, named in the lookup error (``"design"``, ``"label"``).
    """

    def __init__(self, kind: str, *, argument: str) -> None:
        self.kind = kind
        self.argument = argument
        self._classes: dict[str, T] = {}

    def add(self, name: str, value: T) -> T:
        """Register ``value`` under ``name``; a ValueError if the name is empty or already taken."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if name in self._classes:
            taken = getattr(self._classes[name], "__name__", repr(self._classes[name]))
            raise ValueError(f"the {self.kind} name {name!r} is taken by {taken}")
        self._classes[name] = value
        return value

    def remove(self, name: str) -> T:
        """Unregister ``name`` and return its value (a KeyError if it is not registered), e.g. after a test."""
        return self._classes.pop(name)

    def register(self, name: str) -> Callable[[T], T]:
        """A class decorator registering the class under ``name``."""
        return lambda value: self.add(name, value)

    def names(self) -> tuple[str, ...]:
        """The registered names, in the order of registration."""
        return tuple(self._classes)

    def lookup(self, name: object, *, argument: str | None = None, hint: str = "") -> T:
        """The value registered under ``name``.

        A TypeError if ``name`` is not a string, a ValueError listing the known
        names otherwise; both name ``argument`` (default: the registry's) in
        backticks, and end with ``hint`` when given.
        """
        where = argument or self.argument
        suffix = f"; {hint}" if hint else ""
        if not isinstance(name, str):
            raise TypeError(f"`{where}` must be a string, one of {list(self._classes)}, got "
                            f"{type(name).__name__}{suffix}")
        if name not in self._classes:
            raise ValueError(f"`{where}` must be one of {list(self._classes)}, got {name!r}{suffix}")
        return self._classes[name]

    def __getitem__(self, name: str) -> T:
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {list(self._classes)})"
