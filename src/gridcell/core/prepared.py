"""Prebuilt Core statements run straight on the driver's cursor.

Why: an ingest unit of work asks ~20 small questions (topology, agreements, statuses, subscriptions…).
Through `Session.execute` each costs ~200 µs of SQLAlchemy bookkeeping (parameter construction, expanding
IN re-rendering, result wrapping) around ~50 µs of SQLite; here it is compiled once per dialect and list
length, and only the type conversions the columns need are applied. Results are plain tuples.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable


def _bucket(n: int) -> int:
    """List lengths compile in powers of two (padded), so a statement has a handful of compiled forms."""
    return n if n <= 1 else 1 << (n - 1).bit_length()


@dataclass
class _Compiled:
    sql: str
    names: tuple[str, ...]  # bound parameter names in placeholder order (positional drivers only)
    positional: bool
    defaults: dict[str, Any]  # parameters the statement carries a value for (literals, LIMIT, …)
    bind: dict[str, Callable[[Any], Any]]
    types: tuple[Any, ...]  # the result columns' SQLAlchemy types
    # (column index, processor) where one is needed; known once the driver has described the columns
    result: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None


def _connection(session: Session) -> tuple[Connection, Any]:
    """The session's connection and its driver connection, remembered for the transaction in progress
    (Session.connection() alone costs about as much as a small SQLite query). Pending ORM changes are
    flushed first, as Session.execute would: every statement here sees them."""
    if session.autoflush:
        session.flush()  # returns at once when nothing is pending
    tx = session.get_transaction()
    cached = session.info.get("_prepared_conn")
    if tx is not None and cached is not None and cached[0] is tx:
        return cached[1], cached[2]
    conn = session.connection()
    driver = conn.connection.driver_connection
    session.info["_prepared_conn"] = (session.get_transaction(), conn, driver)
    return conn, driver


class Prepared:
    """One prebuilt statement; its `bindparam(..., expanding=True)` lists take any length."""

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        binds = stmt.compile().binds  # type: ignore[attr-defined]
        # The lists a caller passes (literal IN lists carry their own values).
        self.expanding = tuple(sorted(name for name, b in binds.items() if b.expanding and b.required))
        self._required = tuple(name for name, b in binds.items() if b.required and not b.expanding)
        self._cache: dict[tuple[str, tuple[int, ...]], _Compiled] = {}

    def _compile(self, dialect: Dialect, lengths: tuple[int, ...]) -> _Compiled:
        stmt: Any = self.stmt
        compiled: Any = stmt.compile(dialect=dialect)
        # Placeholder values: lists fix their lengths (each becomes that many ordinary parameters pks_1,
        # pks_2, … of the element type); the others only satisfy the compiler. Literal IN lists and LIMITs
        # come back with their values, which stay as defaults.
        placeholders: dict[str, Any] = dict.fromkeys(self._required)
        placeholders.update({name: [None] * n for name, n in zip(self.expanding, lengths, strict=True)})
        expanded = compiled.construct_expanded_state(placeholders)
        positional = expanded.positiontup is not None
        names = tuple(expanded.positiontup) if positional else ()
        processors = {**compiled._bind_processors, **expanded.processors}
        bind = {name: proc for name, proc in processors.items() if proc is not None}
        defaults = {name: bind[name](v) if name in bind and v is not None else v
                    for name, v in expanded.parameters.items()}
        for name in self.expanding:  # a list's members share one processor, looked up once per call
            proc = bind.get(f"{name}_1") or bind.get(name)
            member = re.compile(rf"{re.escape(name)}_\d+")
            bind = {k: v for k, v in bind.items() if not member.fullmatch(k)}
            if proc is not None:
                bind[name] = proc
        types = tuple(col[3] for col in compiled._result_columns)
        return _Compiled(expanded.statement, names, positional, defaults, bind, types)

    def rows(self, session: Session, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """The statement's rows (pending ORM changes are flushed first)."""
        params = params or {}
        conn, driver = _connection(session)
        dialect = conn.dialect
        lengths = tuple(_bucket(len(params[name])) for name in self.expanding)
        key = (dialect.name, lengths)
        c = self._cache.get(key)
        if c is None:
            c = self._cache[key] = self._compile(dialect, lengths)
        values = {**c.defaults, **params}
        for name, n in zip(self.expanding, lengths, strict=True):
            items = list(values.pop(name))
            if items and len(items) < n:  # IN lists only: repeating a member changes nothing
                items += [items[-1]] * (n - len(items))
            proc = c.bind.get(name)
            for i, v in enumerate(items, 1):
                values[f"{name}_{i}"] = v if proc is None else proc(v)
        for name, proc in c.bind.items():
            if name in params and name not in self.expanding:
                values[name] = proc(values[name])
        args: Any = tuple([values[name] for name in c.names]) if c.positional else values
        description, fetched = _execute(driver, c.sql, args)
        if c.result is None:  # processors may depend on the driver's column type codes (PostgreSQL numerics)
            c.result = tuple((i, proc) for i, proc in enumerate(_result_processors(dialect, c.types, description))
                             if proc is not None)
        if not c.result:
            return fetched
        out = []
        for row in fetched:
            r = list(row)
            for i, proc in c.result:
                r[i] = proc(r[i])
            out.append(tuple(r))
        return out


def _execute(driver: Any, sql: str, args: Any) -> tuple[Any, list[Any]]:
    """Run one statement on a fresh driver cursor: (the cursor's description, its rows)."""
    cursor = driver.cursor()
    try:
        cursor.execute(sql, args)
        description = cursor.description
        return description, cursor.fetchall() if description is not None else []
    finally:
        cursor.close()


def _result_processors(dialect: Dialect, types: Sequence[Any], description: Any) -> list[Any]:
    """Per result column, SQLAlchemy's processor for its type (None where the driver's value is final)."""
    return [t._cached_result_processor(dialect, d[1]) for t, d in zip(types, description or (), strict=False)]


_prepared: dict[int, Prepared] = {}


def rows(session: Session, stmt: Executable, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """`Prepared(stmt).rows(...)`, compiled once per statement: for statements built once (module level)."""
    p = _prepared.get(id(stmt))
    if p is None or p.stmt is not stmt:
        p = _prepared[id(stmt)] = Prepared(stmt)
    return p.rows(session, params)


@dataclass(frozen=True)
class _Write:
    sql: str
    names: tuple[str, ...]  # the parameters the SQL uses, in placeholder order for positional drivers
    positional: bool
    bind: tuple[tuple[str, Callable[[Any], Any]], ...]


_writes: dict[tuple[int, str, tuple[str, ...]], tuple[Executable, _Write]] = {}


def execute_many(session: Session, stmt: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
    """An INSERT / UPDATE / DELETE without RETURNING for many parameter sets in one driver executemany;
    every row names the same keys. For statements built once (module level)."""
    if not rows:
        return
    conn, driver = _connection(session)
    dialect = conn.dialect
    keys = tuple(rows[0])
    cache_key = (id(stmt), dialect.name, keys)
    cached = _writes.get(cache_key)
    if cached is None or cached[0] is not stmt:
        compiled: Any = stmt.compile(dialect=dialect, column_keys=list(keys),  # type: ignore[attr-defined]
                                     for_executemany=True)
        names = tuple(compiled.positiontup if compiled.positional else re.findall(r"%\((\w+)\)s", compiled.string))
        bind = tuple((name, proc) for name, proc in compiled._bind_processors.items() if proc is not None)
        cached = _writes[cache_key] = (stmt, _Write(compiled.string, names, bool(compiled.positional), bind))
    w = cached[1]
    missing = set(w.names) - set(keys)
    if missing:  # column defaults are SQLAlchemy's to fill in; here every value must be given
        raise ValueError(f"execute_many: rows lack {sorted(missing)}")
    if w.bind:
        processed = []
        for row in rows:
            values = dict(row)
            for name, proc in w.bind:
                if name in values and values[name] is not None:
                    values[name] = proc(values[name])
            processed.append(values)
        rows = processed
    args = [tuple(row[n] for n in w.names) for row in rows] if w.positional else list(rows)
    cursor = driver.cursor()
    try:
        cursor.executemany(w.sql, args)
    finally:
        cursor.close()


_returning: dict[tuple[str, str, tuple[str, ...], int, tuple[str, ...]], str] = {}
INSERT_PARAMS_MAX = 900  # parameters per INSERT statement (under SQLite's oldest limit of 999)


def insert_returning(session: Session, table: Table, rows: Sequence[Mapping[str, Any]],
                     returning: Sequence[str]) -> list[tuple[Any, ...]]:
    """A multi-row INSERT … RETURNING of plain rows (every row names the same columns), in as few statements
    as the parameter limit allows. The returned rows come in no particular order."""
    if not rows:
        return []
    conn, driver = _connection(session)
    dialect = conn.dialect
    keys = tuple(rows[0])
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    binds = [(i, proc) for i, k in enumerate(keys)
             if (proc := table.c[k].type._cached_bind_processor(dialect)) is not None]
    types = [table.c[name].type for name in returning]
    per_statement = max(1, INSERT_PARAMS_MAX // len(keys))
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        cache_key = (dialect.name, table.name, keys, len(chunk), tuple(returning))
        sql = _returning.get(cache_key)
        if sql is None:
            one = f"({', '.join([marker] * len(keys))})"
            sql = _returning[cache_key] = (
                f"INSERT INTO {quote(table.name)} ({', '.join(quote(k) for k in keys)}) "
                f"VALUES {', '.join([one] * len(chunk))} RETURNING {', '.join(quote(r) for r in returning)}")
        args: list[Any] = []
        for row in chunk:
            values = [row[k] for k in keys]
            for i, proc in binds:
                if values[i] is not None:
                    values[i] = proc(values[i])
            args.extend(values)
        description, fetched = _execute(driver, sql, args)
        procs = _result_processors(dialect, types, description)
        out.extend(tuple(v if p is None else p(v) for p, v in zip(procs, row, strict=True)) for row in fetched)
    return out
