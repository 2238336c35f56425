"""Search, filter, sort and paging for every list in the console, driven by the query string so a list can be
bookmarked, shared and reloaded as it was (`?q=…&status=down&sort=since&dir=desc&page=2`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

Row = dict[str, Any]
PER_PAGE = 25
MAX_PER_PAGE = 200


@dataclass
class Listing:
    items: list[Row]
    total: int
    page: int
    per_page: int
    sort: str
    desc: bool
    q: str
    filters: dict[str, str]
    path: str
    options: dict[str, list[str]] = field(default_factory=dict)  # filter name → values seen (for the selects)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.page * self.per_page, self.total)

    def url(self, **changes: Any) -> str:
        params: dict[str, Any] = {"q": self.q, **self.filters, "sort": self.sort, "dir": "desc" if self.desc
                                  else "asc", "page": self.page, "per": self.per_page}
        params.update(changes)
        kept = {k: v for k, v in params.items() if v not in ("", None) and not (k == "page" and v == 1)
                and not (k == "per" and v == PER_PAGE)}
        return f"{self.path}?{urlencode(kept)}" if kept else self.path

    def sort_url(self, key: str) -> str:
        desc = not self.desc if key == self.sort else False
        return self.url(sort=key, dir="desc" if desc else "asc", page=1)

    @property
    def prev_url(self) -> str | None:
        return self.url(page=self.page - 1) if self.page > 1 else None

    @property
    def next_url(self) -> str | None:
        return self.url(page=self.page + 1) if self.page < self.pages else None


def _int(value: str | None, default: int, lo: int, hi: int) -> int:
    try:
        return min(max(int(value or default), lo), hi)
    except ValueError:
        return default


def listing(rows: Sequence[Row], query: Mapping[str, str], path: str, *, text: Callable[[Row], str],
            filters: Mapping[str, Callable[[Row], str]], sorts: Mapping[str, Callable[[Row], Any]],
            default_sort: str, default_desc: bool = False) -> Listing:
    """The page of `rows` the query asks for: `q` matches any word of `text(row)` (all words must match, case
    insensitive), each filter keeps rows whose value equals the parameter, `sort`/`dir` order them."""
    q = (query.get("q") or "").strip()[:200]
    chosen = {name: (query.get(name) or "").strip() for name in filters if (query.get(name) or "").strip()}
    sort = query.get("sort") or default_sort
    if sort not in sorts:
        sort = default_sort
    desc = (query.get("dir") or ("desc" if default_desc else "asc")) == "desc"
    options = {name: sorted({str(get(r)) for r in rows if get(r) not in (None, "")}) for name, get in filters.items()}
    words = q.lower().split()
    kept = [r for r in rows
            if all(w in text(r).lower() for w in words)
            and all(str(filters[n](r)) == v for n, v in chosen.items())]
    key = sorts[sort]
    present = [r for r in kept if key(r) is not None]
    absent = [r for r in kept if key(r) is None]
    ordered = sorted(present, key=key, reverse=desc) + absent  # rows without the value last, either way
    per = _int(query.get("per"), PER_PAGE, 5, MAX_PER_PAGE)
    pages = max(1, -(-len(ordered) // per))
    page = _int(query.get("page"), 1, 1, pages)
    return Listing(ordered[(page - 1) * per:page * per], len(ordered), page, per, sort, desc, q, chosen, path,
                   options)
