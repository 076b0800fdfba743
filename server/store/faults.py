"""Driver errors wrapped once: the StoreError every layer above the store sees."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from server.store import backend


class StoreError(Exception):
    """A fault talking to Redis; `temporary` says whether retrying later may help."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


def fault(exc: Exception) -> StoreError:
    """The one place driver errors become StoreError (temporary when retrying may help)."""
    if isinstance(exc, backend.TEMPORARY):
        return StoreError(f"Redis unavailable: {exc}", temporary=True)
    return StoreError(f"Redis error: {exc}", temporary=False)


@contextlib.contextmanager
def wrapped() -> Iterator[None]:
    """Re-raise the driver's errors inside the block as StoreError."""
    try:
        yield
    except backend.FAULTS as exc:
        raise fault(exc) from exc


async def connect(url: str, max_connections: int = backend.POOL_CONNECTIONS) -> backend.Client:
    """`backend.connect` with the driver's errors wrapped."""
    with wrapped():
        return await backend.connect(url, max_connections)
