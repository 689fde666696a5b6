"""The ``with device:`` contract shared by every frame source and laser board."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class OpenedByWith:
    """``with device:`` calls ``open()`` on entry and always ``close()`` on exit, also after
    an exception or Ctrl-C (for a board, ``close()`` turns the laser off first)."""

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
