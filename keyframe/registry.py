"""One way to choose a backend by name: a :class:`Registry` per backend kind, and one progress type.

Each stage keeps a registry of its backends (``RENDERERS`` in :mod:`keyframe.render`,
``INPAINTERS`` in :mod:`keyframe.inpaint`, ``FLOWS`` in :mod:`keyframe.track.flow`, ``CRITERIA``
in :mod:`keyframe.gate`) and a small ``Protocol`` the backends follow; the config names the
backend and the stage looks it up with :meth:`Registry.get`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from keyframe.errors import ConfigError

#: ``progress(done, total)``: called after each unit of work (a frame, a denoising step, a region).
Progress = Callable[[int, int], None]

T = TypeVar("T")


class Registry(Generic[T]):
    """Backends of one kind, by the name the config uses.

    Parameters
    ----------
    kind : str
        What the backends are, for error messages (``"render backend"``).

    Examples
    --------
    >>> SHAPES = Registry("shape")
    >>> @SHAPES.register("square")
    ... def square(side): return side * side
    >>> SHAPES.get("square")(3), SHAPES.names()
    (9, ['square'])
    >>> SHAPES.get("circle")
    Traceback (most recent call last):
    ...
    keyframe.errors.ConfigError: unknown shape 'circle'; choose one of: square
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the backend as ``name`` (a name is registered once)."""

        def add(backend: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = backend
            return backend

        return add

    def get(self, name: str) -> T:
        """The backend called ``name``; :class:`~keyframe.errors.ConfigError` naming the choices if none is."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        """``(name, backend)`` pairs, in registration order."""
        return iter(list(self._entries.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._entries
