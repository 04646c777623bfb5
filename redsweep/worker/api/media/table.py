"""``Table``: rows and columns, saved as JSON (``{"columns": [...], "data": [[...]]}``, W&B's
table layout); media in its cells are saved beside it and the cell holds their reference."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from redsweep.worker.api.media.base import Media


class Table(Media):
    """W&B's ``Table(columns=None, data=None, rows=None, dataframe=None)``."""

    kind = "table-file"
    folder = "tables"

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        data: Sequence[Sequence[Any]] | None = None,
        rows: Sequence[Sequence[Any]] | None = None,
        dataframe: Any = None,
        **ignored: Any,
    ) -> None:
        if dataframe is not None:
            columns = [str(c) for c in dataframe.columns]
            data = dataframe.values.tolist()
        rows = data if data is not None else rows
        if hasattr(rows, "tolist"):
            rows = rows.tolist()
        self.data: list[list[Any]] = [list(r) for r in (rows or [])]
        if columns is None:
            width = len(self.data[0]) if self.data else 0
            columns = [f"Column {i + 1}" for i in range(width)]
        self.columns: list[str] = [str(c) for c in columns]

    def add_data(self, *values: Any) -> None:
        if len(values) != len(self.columns):
            raise ValueError(
                f"Table.add_data(): {len(values)} values for {len(self.columns)} columns"
            )
        self.data.append(list(values))

    def add_column(self, name: str, data: Sequence[Any], optional: bool = False) -> None:
        if self.data and len(data) != len(self.data):
            raise ValueError(
                f"Table.add_column({name!r}): {len(data)} values, {len(self.data)} rows"
            )
        if not self.data:
            self.data = [[] for _ in data]
        self.columns.append(str(name))
        for row, value in zip(self.data, data, strict=False):
            row.append(value)

    def get_column(self, name: str, convert_to: str | None = None) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.data]

    def get_index(self) -> list[int]:
        return list(range(len(self.data)))

    def iterrows(self) -> Iterator[tuple[int, list[Any]]]:
        yield from enumerate(self.data)

    def add_computed_columns(self, fn: Any) -> None:
        computed = [
            fn(i, dict(zip(self.columns, row, strict=False))) for i, row in enumerate(self.data)
        ]
        for name in computed[0] if computed else {}:
            self.add_column(name, [c[name] for c in computed])

    def extension(self) -> str:
        return "table.json"

    def write(self, files: Any, name: str) -> None:
        from redsweep.worker.api.values import storable

        stem = name.rsplit(".table.json", 1)[0]
        cells = []
        for r, row in enumerate(self.data):
            out = []
            for c, value in enumerate(row):
                if isinstance(value, Media):
                    value = value.save(files, f"{stem.rsplit('/', 1)[-1]}_r{r}c{c}")
                out.append(storable(value))
            cells.append(out)
        text = json.dumps({"columns": self.columns, "data": cells}, allow_nan=True)
        files.path(name).write_text(text, "utf-8")

    def describe(self) -> dict[str, Any]:
        return {"ncols": len(self.columns), "nrows": len(self.data)}

    def __repr__(self) -> str:
        return f"<Table {len(self.data)} rows x {len(self.columns)} columns>"
