"""Database engine and sessions. SQLite (WAL) embedded, PostgreSQL in production; same models."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, DateTime, Dialect, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from gridcell.core.clock import as_utc

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both engines (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_datetime


def _sqlite_datetime(value: Any) -> str | None:
    """SQLAlchemy's SQLite storage format ('YYYY-MM-DD HH:MM:SS.ffffff', UTC) from one C call: its own
    %-format over a dict of fields was the largest single cost of writing a batch of alarms."""
    global _last_datetime
    if value is None:
        return None
    last = _last_datetime
    if value is last[0]:  # a unit of work writes its `now` into many rows and columns
        return last[1]
    if not isinstance(value, datetime):
        raise TypeError(f"a datetime is required, not {type(value).__name__}")
    utc = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
    text = utc.isoformat(" ", "microseconds")
    _last_datetime = (value, text)  # one tuple swap: safe across threads
    return text


_last_datetime: tuple[Any, str] = (None, "")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Database:
    """Owns the engine, the session factory and (on SQLite) the single-writer lock."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._autocheckpoint = True  # SQLite: writers checkpoint the WAL themselves (until a Checkpointer runs)
        # orjson for JSON columns: several times faster than json both ways on the ingest hot paths.
        kwargs: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_size=20, max_overflow=20, pool_pre_ping=True)
        self.engine: Engine = create_engine(url, **kwargs)
        self.write_engine: Engine = self.engine
        if self.is_sqlite:
            _sqlite_pragmas(self, self.engine, sqlite_synchronous, "BEGIN")
            # A separate writer engine takes the write lock up front (BEGIN IMMEDIATE), so a writer never
            # fails half-way upgrading a read snapshot while another process writes.
            self.write_engine = create_engine(url, **kwargs)
            _sqlite_pragmas(self, self.write_engine, sqlite_synchronous, "BEGIN IMMEDIATE")
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)
        # SQLite has one writer; serialising in-process avoids busy-wait storms between threads.
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._after_commit: list[Callable[[list[Any]], None]] = []
        self._before_commit: list[Callable[[Session], Callable[[], None] | None]] = []
        self.checkpointer: Checkpointer | None = None

    def start_background_checkpoints(self, interval_s: float = 0.25) -> Checkpointer | None:
        """SQLite: from now on writers never checkpoint the WAL themselves; a thread of its own does.

        Why: an automatic checkpoint runs inside the commit that crosses the WAL threshold, copying pages and
        syncing the database file while every other writer waits, which was the slowest ~1 % of ingest
        commits. A PASSIVE checkpoint on another connection neither waits for nor blocks writers. For
        long-running processes (serve); a one-shot command keeps SQLite's automatic checkpoints."""
        if not self.is_sqlite or self.checkpointer is not None:
            return self.checkpointer
        self.checkpointer = Checkpointer(self.engine, interval_s)
        self._autocheckpoint = False
        self.write_engine.dispose()  # pooled writer connections reconnect with wal_autocheckpoint=0
        self.checkpointer.start()
        return self.checkpointer

    def on_commit(self, hook: Callable[[list[Any]], None]) -> None:
        """Register a hook that receives the messages a unit of work queued, after it commits."""
        self._after_commit.append(hook)

    def ride_along(self, hook: Callable[[Session], Callable[[], None] | None]) -> Callable[[], None]:
        """Register work that joins every unit of work just before it commits (bookkeeping that needs no
        transaction of its own while others write anyway). The hook returns an undo for a rollback, or
        None. Returns the function that unregisters it."""
        self._before_commit.append(hook)
        return lambda: self._before_commit.remove(hook)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A unit of work: commits on success, then hands queued messages to the after-commit hooks."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self.write_sessions() as session:
                session.info["outgoing"] = []
                undo: list[Callable[[], None]] = []
                try:
                    yield session
                    for joining in self._before_commit:
                        u = joining(session)
                        if u is not None:
                            undo.append(u)
                    session.commit()
                except BaseException:
                    session.rollback()
                    for u in undo:
                        u()
                    raise
                outgoing: list[Any] = session.info.pop("outgoing", [])
        finally:
            if lock is not None:
                lock.release()
        if self.checkpointer is not None:
            self.checkpointer.committed()
        if outgoing:
            for hook in self._after_commit:
                hook(outgoing)

    def stop_background_checkpoints(self) -> None:
        """Stop the checkpoint thread (after a last checkpoint); writers checkpoint for themselves again."""
        if self.checkpointer is None:
            return
        self.checkpointer.stop()
        self.checkpointer = None
        self._autocheckpoint = True
        self.write_engine.dispose()

    def dispose(self) -> None:
        self.stop_background_checkpoints()
        self.engine.dispose()
        self.write_engine.dispose()


class Checkpointer:
    """Checkpoints a SQLite WAL (PASSIVE) a short while after commits, on its own thread and connection."""

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self.engine, self.interval_s = engine, interval_s
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self.checkpoints = 0
        self.last: tuple[int, int, int] | None = None  # (busy, WAL frames, frames checkpointed)

    def start(self) -> None:
        self._thread.start()

    def committed(self) -> None:
        self._dirty.set()

    def stop(self) -> None:
        self._stopping.set()
        self._dirty.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def checkpoint(self) -> tuple[int, int, int]:
        raw = self.engine.raw_connection()
        try:
            cursor = raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]
            busy, frames, done = cursor.fetchone()
        finally:
            raw.close()
        self.checkpoints += 1
        self.last = (busy, frames, done)
        return busy, frames, done

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._dirty.wait()
            self._stopping.wait(self.interval_s)  # let a few commits gather; returns early on stop
            self._dirty.clear()
            try:
                self.checkpoint()
            except Exception:  # the next commit tries again; writers are never held up by this
                log.exception("SQLite WAL checkpoint failed")


SQLITE_CACHE_KIB = 65_536


def _sqlite_pragmas(db: Database, engine: Engine, synchronous: str, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, see below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # 64 MiB of page cache per connection (SQLite's default is 2 MiB): a plan over 100,000 sites reads its
        # joins from memory instead of the OS cache (9 -> 4 ms for one join measured); pages are only taken as
        # they are read.
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        if not db._autocheckpoint:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def bind_marker(conn: Connection) -> str:
    """The driver's positional placeholder, for statements sent with exec_driver_sql (SQLite ?, psycopg %s)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def queue_after_commit(session: Session, message: Any) -> None:
    """Queue a message (e.g. 'outbox rows for subscription X') to publish once the session commits."""
    session.info.setdefault("outgoing", []).append(message)
