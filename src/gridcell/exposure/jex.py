"""Jex conditions (TS 32.161 clause 7.6): the `filter` of Fault MnS alarm queries and subscriptions.

A conditions expression is the predicate of Jex advanced: relative child-axis paths (`a/b`), string, number,
`true`/`false`/`null` literals, `=`, `!=`, `<`, `<=`, `>`, `>=`, `and`, `or`, parentheses and the functions
`contains()` and `not()`. It is evaluated with the alarm record or the notification as the context node, exactly
as the consumer receives it, so a filter can never see more than its consumer is shown. As TS 32.161 annex C.2
says, a comparison whose sides are not both single scalars (a missing attribute, an array, an object) is false.
Two strings are ordered lexically (ISO 8601 times compare in time order). Anything outside the profile (absolute
paths, `*`, predicates, unions, other functions) is refused when the filter is given, never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 2000
MAX_DEPTH = 50
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>"[^"]*"|'[^']*')
    | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![^\s()=!<>,/|\[\]*"']))
    | (?P<op>!=|<=|>=|=|<|>)
    | (?P<punct>[(),/|\[\]*@])
    | (?P<name>[^\s"'\[\]=!<>(),/|*@0-9+\-][^\s"'\[\]=!<>(),/|*@]*)
    )""", re.VERBOSE)
_MISSING = object()

Condition = Callable[[Any], bool]


class JexError(ValueError):
    """The filter is not a Jex conditions expression this exchange can evaluate; the message says where."""


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise JexError(f"unexpected character {text[pos:].lstrip()[:1]!r} at position "
                           f"{len(text) - len(text[pos:].lstrip()) + 1}")
        kind = m.lastgroup
        out.append(_Tok(kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0
        self.paths: list[tuple[str, ...]] = []  # every attribute path the expression reads

    def peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise JexError("the expression ends too early")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise JexError(f"expected {text!r} at position {tok.pos}, found {tok.text!r}")

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "name" and tok.text == word

    def parse(self) -> Condition:
        if not self.toks:
            raise JexError("the expression is empty")
        cond = self.or_expr()
        tok = self.peek()
        if tok is not None:
            raise JexError(f"unexpected {tok.text!r} at position {tok.pos}")
        return cond

    def or_expr(self) -> Condition:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise JexError(f"the expression is nested deeper than {MAX_DEPTH} levels")
        parts = [self.and_expr()]
        while self.keyword("or"):
            self.take()
            parts.append(self.and_expr())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def and_expr(self) -> Condition:
        parts = [self.unary()]
        while self.keyword("and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def unary(self) -> Condition:
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        if tok is not None and tok.kind == "name" and (nxt := self.peek(1)) is not None and nxt.text == "(":
            return self.function()
        left = self.operand()
        op = self.peek()
        if op is not None and op.kind == "op":
            self.take()
            right = self.operand()
            return _comparison(op.text, left, right)
        return lambda doc: left(doc) not in (_MISSING, None)  # a bare path: the attribute is present

    def function(self) -> Condition:
        name = self.take()
        self.expect("(")
        if name.text == "not":
            inner = self.or_expr()
            self.expect(")")
            return lambda doc: not inner(doc)
        if name.text == "contains":
            haystack = self.operand()
            self.expect(",")
            needle = self.operand()
            self.expect(")")
            return lambda doc: _contains(haystack(doc), needle(doc))
        if name.text in ("true", "false"):
            self.expect(")")
            value = name.text == "true"
            return lambda doc: value
        raise JexError(f"function {name.text}() at position {name.pos} is not in the Jex conditions profile "
                       "(contains() and not() are)")

    def operand(self) -> Callable[[Any], Any]:
        tok = self.take()
        if tok.kind == "string":
            value: Any = tok.text[1:-1]
            return lambda doc: value
        if tok.kind == "number":
            value = float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
            return lambda doc: value
        if tok.kind == "name" and tok.text in ("true", "false", "null") and not self._continues_path():
            value = {"true": True, "false": False, "null": None}[tok.text]
            return lambda doc: value
        if tok.kind == "name" or tok.text == ".":
            return self.path(tok)
        if tok.text == "/":
            raise JexError(f"absolute path at position {tok.pos}: a condition is relative to the alarm or "
                           "notification it is evaluated on")
        if tok.text in ("*", "[", "|", "@"):
            raise JexError(f"{tok.text!r} at position {tok.pos} is not in the Jex conditions profile")
        raise JexError(f"unexpected {tok.text!r} at position {tok.pos}")

    def _continues_path(self) -> bool:
        nxt = self.peek()
        return nxt is not None and nxt.text == "/"

    def path(self, first: _Tok) -> Callable[[Any], Any]:
        steps = [first.text]
        while (tok := self.peek()) is not None and tok.text == "/":
            self.take()
            step = self.take()
            if step.kind != "name":
                raise JexError(f"{step.text!r} at position {step.pos} is not an attribute name")
            steps.append(step.text)
        nxt = self.peek()
        if nxt is not None and nxt.text in ("[", "*", "|"):
            raise JexError(f"{nxt.text!r} at position {nxt.pos} is not in the Jex conditions profile")
        names = tuple(s for s in steps if s != ".")
        self.paths.append(names)
        return lambda doc: _select(doc, names)


def _select(doc: Any, names: tuple[str, ...]) -> Any:
    node = doc
    for name in names:
        if not isinstance(node, dict) or name not in node:
            return _MISSING
        node = node[name]
    return node


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    x, y = _number(a), _number(b)
    return x is not None and x == y


def _order(a: Any, b: Any) -> int | None:
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    x, y = _number(a), _number(b)
    if x is None or y is None or isinstance(a, bool) or isinstance(b, bool):
        return None
    return (x > y) - (x < y)


_ORDERED: dict[str, Callable[[int], bool]] = {"<": lambda c: c < 0, "<=": lambda c: c <= 0,
                                              ">": lambda c: c > 0, ">=": lambda c: c >= 0}


def _comparison(op: str, left: Callable[[Any], Any], right: Callable[[Any], Any]) -> Condition:
    def compare(doc: Any) -> bool:
        a, b = left(doc), right(doc)
        if a is _MISSING or b is _MISSING or not _scalar(a) or not _scalar(b):
            return False
        if op == "=":
            return _equal(a, b)
        if op == "!=":
            return not _equal(a, b)
        c = _order(a, b)
        return c is not None and _ORDERED[op](c)
    return compare


def _contains(haystack: Any, needle: Any) -> bool:
    return isinstance(haystack, str) and isinstance(needle, str) and needle in haystack


def compile_condition(text: str) -> Condition:
    """The filter as a predicate over a JSON document; JexError says what is wrong and where."""
    return compile_with_paths(text)[0]


def compile_with_paths(text: str) -> tuple[Condition, list[tuple[str, ...]]]:
    """The predicate and every attribute path it reads, so a caller that knows its documents can refuse a name it
    does not know instead of letting the condition be false for ever."""
    if len(text) > MAX_LENGTH:
        raise JexError(f"longer than {MAX_LENGTH} characters")
    if any(ord(c) < 0x20 and c not in "\t\n\r" for c in text):
        raise JexError("control characters are not allowed")
    parser = _Parser(text)
    return parser.parse(), parser.paths
