"""Group commit for MNO notification ingest: requests that arrive while one unit of work runs go together
in the next.

Most of an ingest's cost is per unit of work (status engine, the other capabilities' handlers, commit), not
per notification, and on SQLite requests queue for the single writer anyway. So whoever finds no unit of
work running becomes the leader and takes every request queued at that moment (up to MAX_GROUP
notifications) into one; the others wait for its outcome. Each request keeps its own answer and its own
all-or-nothing: validation fails a request alone, and when a group's unit of work fails, its requests are
run again one by one so that one bad request cannot fail the others. Nobody is answered before the commit
that holds their notifications.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gridcell.core.db import Database
from gridcell.core.errors import Overloaded
from gridcell.faults import schemas as s
from gridcell.faults import service

MAX_GROUP = 5_000  # notifications per unit of work
# Notifications allowed to wait for the writer (about one unit of work behind the running one, ~1 s at the
# measured ingest rate): beyond, a request is refused with 503 and Retry-After instead of waiting without bound.
MAX_WAITING = 5_000


@dataclass(eq=False)
class _Job:
    org_id: str
    notifications: Sequence[Any]
    result: s.IngestResult | None = None
    error: Exception | None = None
    done: bool = False


class IngestGroups:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cv = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._waiting = 0  # notifications queued, not yet taken into a unit of work
        self._leading = False

    def submit(self, org_id: str, notifications: Sequence[Any]) -> s.IngestResult:
        """Ingest one request's notifications; returns once they are committed (or raises its error)."""
        service.validate(notifications)
        job = _Job(org_id, notifications)
        with self._cv:
            if self._leading and self._waiting + len(notifications) > MAX_WAITING:
                raise Overloaded(f"{self._waiting} notifications are waiting to be stored; retry shortly",
                                 retry_after_s=1)
            self._queue.append(job)
            self._waiting += len(notifications)
        while True:
            with self._cv:
                while self._leading and not job.done:
                    self._cv.wait()
                if job.done:
                    break
                self._leading = True
                group = self._take()
            try:
                self._run(group)
            finally:
                with self._cv:
                    self._leading = False
                    self._cv.notify_all()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _take(self) -> list[_Job]:
        group: list[_Job] = []
        size = 0
        while self._queue and (not group or size + len(self._queue[0].notifications) <= MAX_GROUP):
            job = self._queue.popleft()
            group.append(job)
            size += len(job.notifications)
        self._waiting -= size
        return group

    def _run(self, group: list[_Job]) -> None:
        try:
            try:
                self._commit(group)
            except Exception as exc:
                if len(group) == 1:
                    group[0].error = exc
                else:
                    for job in group:
                        try:
                            self._commit([job])
                        except Exception as one:
                            job.error = one
        finally:
            for job in group:
                if job.result is None and job.error is None:
                    job.error = RuntimeError("the ingest was interrupted")
                job.done = True

    def _commit(self, group: list[_Job]) -> None:
        by_org: dict[str, list[_Job]] = {}
        for job in group:
            by_org.setdefault(job.org_id, []).append(job)
        outcome: list[tuple[_Job, s.IngestResult]] = []
        with self.db.write() as session:
            for org_id, jobs in by_org.items():
                results = service.ingest_many(session, org_id, [j.notifications for j in jobs])
                outcome.extend(zip(jobs, results, strict=True))
        for job, result in outcome:  # only once committed
            job.result = result


_groups: weakref.WeakKeyDictionary[Database, IngestGroups] = weakref.WeakKeyDictionary()
_groups_lock = threading.Lock()


def groups_for(db: Database) -> IngestGroups:
    with _groups_lock:
        groups = _groups.get(db)
        if groups is None:
            groups = _groups[db] = IngestGroups(db)
        return groups
