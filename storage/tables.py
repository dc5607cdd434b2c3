"""Result tables (rankings, transfer results, failures) as Parquet beside the Zarr group.

``tables/{name}.parquet`` is a snapshot written whole by one driver (an atomic
object write). ``tables/{name}/part-*.parquet`` are rows appended by any number
of writers at once (each append is its own file, so appends never race). A read
returns the snapshot followed by the appended parts, oldest first.

``tables/`` is a plain folder inside the store's URL, beside the Zarr nodes (not
one of them): Zarr's hierarchy walkers (``Group.members``) warn that it is not
part of the hierarchy, and skip it.
"""

from __future__ import annotations

import io
import uuid
from typing import TYPE_CHECKING

from storage.backend import Backend, backend_errors
from storage.errors import EntryNotFoundError
from storage.names import validate_id
from storage.provenance import utc_now

if TYPE_CHECKING:
    import pandas as pd


def _frame_bytes(frame: pd.DataFrame, name: str) -> bytes:
    import pandas as pd  # imported here: only table readers and writers pay for pandas

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"table {name!r}: expected a pandas DataFrame, got {type(frame).__name__}")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=False)
    return buffer.getvalue()


def write(backend: Backend, name: str, frame: pd.DataFrame) -> None:
    """Replaces table ``name`` with ``frame`` (appended parts are dropped after the snapshot is written)."""
    validate_id(name, "table name")
    payload = _frame_bytes(frame, name)
    with backend_errors(backend.url, f"tables/{name}", "writing table"):
        backend.put_bytes(f"tables/{name}.parquet", payload)
        backend.remove_tree(f"tables/{name}")


def append(backend: Backend, name: str, frame: pd.DataFrame) -> None:
    """Appends rows to table ``name``; safe with many concurrent writers."""
    validate_id(name, "table name")
    payload = _frame_bytes(frame, name)
    stamp = utc_now().replace(":", "").replace("+", "Z")
    with backend_errors(backend.url, f"tables/{name}", "appending to table"):
        backend.put_bytes(f"tables/{name}/part-{stamp}-{uuid.uuid4().hex[:12]}.parquet", payload)


def read(backend: Backend, name: str) -> pd.DataFrame:
    """The whole table: snapshot, then appended parts in time order.

    Raises:
        EntryNotFoundError: If the table has never been written.
    """
    import pandas as pd

    validate_id(name, "table name")
    with backend_errors(backend.url, f"tables/{name}", "reading table"):
        parts = [f"tables/{name}/{part}" for part in backend.list_names(f"tables/{name}") if part.endswith(".parquet")]
        payloads = backend.get_many([f"tables/{name}.parquet", *parts])
    frames = [pd.read_parquet(io.BytesIO(payload)) for payload in payloads.values() if payload is not None]
    if not frames:
        raise EntryNotFoundError(f"table {name!r} does not exist in {backend.url}")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def names(backend: Backend) -> tuple[str, ...]:
    """Names of the stored tables."""
    with backend_errors(backend.url, "tables", "listing tables"):
        found = backend.list_names("tables")
    return tuple(sorted({entry.removesuffix(".parquet") for entry in found}))
