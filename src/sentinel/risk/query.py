"""The watch query language: terms, "quoted phrases", AND / OR / NOT and parentheses.

>>> q = parse_query('(艾克美 OR ACME) AND NOT 招聘')
>>> q.matches("艾克美的牛奶喝出了异物"), q.matches("ACME 招聘客服")
(True, False)

* Juxtaposition means AND: ``艾克美 牛奶`` is ``艾克美 AND 牛奶``; NOT binds tighter than AND,
  AND tighter than OR. Operators are upper case (``and`` is a term).
* Chinese terms match as substrings (Chinese has no word boundaries); Latin terms match
  case-insensitively and not inside a longer Latin word (``acme`` does not match ``acmefoods``).
* Texts and terms are folded alike (:func:`sentinel.risk.text.fold`): full-width to
  half-width, lower case, traditional to simplified.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sentinel.risk.text import fold

__all__ = ["Query", "QueryError", "parse_query"]

Matcher = Callable[[str], bool]


class QueryError(ValueError):
    """A query that does not parse; the message names the column."""


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # TERM, PHRASE, AND, OR, NOT, LP, RP, END
    text: str
    col: int


_OPS = {"AND": "AND", "OR": "OR", "NOT": "NOT", "&&": "AND", "||": "OR"}


def _tokenize(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace() or ch == "\u3000":
            i += 1
        elif ch in "(（":
            toks.append(_Tok("LP", ch, i + 1))
            i += 1
        elif ch in ")）":
            toks.append(_Tok("RP", ch, i + 1))
            i += 1
        elif ch in '"“”':
            close = query.find('"' if ch == '"' else "”", i + 1)
            if ch != '"' and close < 0:
                close = query.find('"', i + 1)
            if close < 0:
                raise QueryError(f"unterminated quoted phrase starting at column {i + 1}")
            phrase = query[i + 1 : close]
            if not phrase.strip():
                raise QueryError(f"empty quoted phrase at column {i + 1}")
            toks.append(_Tok("PHRASE", phrase, i + 1))
            i = close + 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in '()（）"“”\u3000':
                j += 1
            word = query[i:j]
            toks.append(_Tok(_OPS.get(word, "TERM"), word, i + 1))
            i = j
    toks.append(_Tok("END", "", n + 1))
    return toks


_LATIN = re.compile(r"[a-z]")


class _Pattern:
    """A matcher backed by one regular expression; ORs of these merge into one (fast) regex."""

    __slots__ = ("_search", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._search = re.compile(source).search

    def __call__(self, text: str) -> bool:
        return self._search(text) is not None


def _term_matcher(raw: str) -> Matcher:
    term = " ".join(fold(raw).split())
    if not term:
        raise QueryError(f"empty term {raw!r}")
    source = re.escape(term).replace(r"\ ", r"\s+")
    if term.isascii() and _LATIN.search(term):
        # Latin: not inside a longer Latin word; the edges only matter where the term has letters
        left = r"(?<![a-z])" if term[0].isalpha() else ""
        right = r"(?![a-z])" if term[-1].isalpha() else ""
        source = left + source + right
    return _Pattern(source)


class _Parser:
    def __init__(self, query: str) -> None:
        self.toks = _tokenize(query)
        self.pos = 0

    def peek(self) -> _Tok:
        return self.toks[self.pos]

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> Matcher:
        if self.peek().kind == "END":
            raise QueryError("the query is empty")
        m = self.parse_or()
        tok = self.peek()
        if tok.kind == "RP":
            raise QueryError(f"unmatched ')' at column {tok.col}")
        if tok.kind != "END":  # pragma: no cover - parse_and consumes everything else
            raise QueryError(f"unexpected {tok.text!r} at column {tok.col}")
        return m

    def parse_or(self) -> Matcher:
        parts = [self.parse_and()]
        while self.peek().kind == "OR":
            self.take()
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        if all(isinstance(p, _Pattern) for p in parts):
            return _Pattern("|".join(f"(?:{p.source})" for p in parts if isinstance(p, _Pattern)))
        return lambda text: any(p(text) for p in parts)

    def parse_and(self) -> Matcher:
        parts = [self.parse_not()]
        while self.peek().kind in ("AND", "NOT", "TERM", "PHRASE", "LP"):
            if self.peek().kind == "AND":
                self.take()
            parts.append(self.parse_not())
        if len(parts) == 1:
            return parts[0]
        return lambda text: all(p(text) for p in parts)

    def parse_not(self) -> Matcher:
        if self.peek().kind == "NOT":
            self.take()
            inner = self.parse_not()
            return lambda text: not inner(text)
        return self.parse_atom()

    def parse_atom(self) -> Matcher:
        tok = self.take()
        if tok.kind in ("TERM", "PHRASE"):
            return _term_matcher(tok.text)
        if tok.kind == "LP":
            if self.peek().kind == "RP":
                raise QueryError(f"empty parentheses at column {tok.col}")
            inner = self.parse_or()
            close = self.take()
            if close.kind != "RP":
                raise QueryError(f"'(' at column {tok.col} is never closed")
            return inner
        if tok.kind == "END":
            raise QueryError("the query ends where a term was expected")
        raise QueryError(f"expected a term at column {tok.col}, got {tok.text!r}")


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query. ``matches`` takes any text; ``matches_folded`` one already folded."""

    source: str
    _match: Matcher

    def matches(self, text: str) -> bool:
        return self._match(fold(text))

    def matches_folded(self, folded_text: str) -> bool:
        return self._match(folded_text)

    @property
    def needs_a_term(self) -> bool:
        """Whether a text must contain at least one of the query's terms to match.

        ``NOT 招聘`` (or ``艾克美 OR NOT 招聘``) also matches a text that mentions none of
        them: as a watch it would follow the whole stream.
        """
        return not self._match("")


def parse_query(query: str) -> Query:
    """Parse ``query``; raise :class:`QueryError` naming what is wrong and where."""
    return Query(query, _Parser(query).parse())
