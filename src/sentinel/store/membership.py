"""Which watches a post belongs to: decided once, when it is stored, and kept in ``post_watches``.

A post belongs to a watch

* ``via = "own"`` when its author is one of the watch's own accounts (``accounts = [...]``:
  the brand speaking; its posts are responses, never negative evidence);
* ``via = "match"`` when its own text matches the watch's query (folded as the engine folds);
* ``via = "repost"`` when it reposts, through its chain of ``repost_of``, a post that belongs
  (a Weibo repost's own words, "扩散" or "转发微博", rarely name the brand).

The decision is the store's (:class:`~sentinel.store.watches.WatchTables`), made in the
transaction that stores the post, so that ``report``, ``export --watch``, ``response effect``
and the top stories all count the same posts. A repost stored before its original is assigned
when the original arrives (its stored descendants are looked up then). A watch whose query or
accounts changed, or a store written before this table existed, is re-decided in full at the
next start (:meth:`~sentinel.store.watches.WatchTables.use_watches`; the fingerprint of each
watch's rule is kept in the ``watch_rules`` table).

The risk engine decides for itself, in memory, with the same two rules plus one: a post of a
story (its near-duplicate copies included) that belongs to a watch brings the story's later
posts in. The brand's own posts reach it neutral (:class:`OwnPostsNeutral`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from sentinel.config import Config, WatchConfig
from sentinel.obs.metrics import Metrics
from sentinel.post import Post, ScoredPost
from sentinel.risk.engine import Engine
from sentinel.risk.options import EngineOptions
from sentinel.risk.query import Query, parse_query
from sentinel.risk.text import fold
from sentinel.risk.topics import TopicSeverity

__all__ = ["RULES_VERSION", "VIAS", "Membership", "OwnPostsNeutral", "WatchRule", "neutral"]

VIAS = ("own", "match", "repost")  # strongest first: a post keeps the strongest reason
# part of every rule's fingerprint: raise it when what a query matches changes (folding, the
# query language), and every store decides its watches again at the next start
RULES_VERSION = 1


@dataclass(frozen=True, slots=True)
class WatchRule:
    """One watch's rule: its query and its own accounts, and a fingerprint of both."""

    name: str
    query: Query
    accounts: frozenset[str]
    fingerprint: str

    @classmethod
    def from_config(cls, watch: WatchConfig) -> WatchRule:
        accounts = frozenset(watch.accounts)
        text = "\n".join([f"v{RULES_VERSION}", watch.query, *sorted(accounts)])
        return cls(watch.name, parse_query(watch.query), accounts, hashlib.sha256(text.encode()).hexdigest())


class Membership:
    """The configured watches' rules, deciding what a post's own author and text say.

    >>> from sentinel.config import WatchConfig
    >>> m = Membership([WatchConfig(name="acme", query="艾克美", accounts=["100"])])
    >>> m.decide("艾克美的酸奶", None)
    {'acme': 'match'}
    >>> m.decide("【辟谣】关于网传信息的说明", "100")
    {'acme': 'own'}
    """

    def __init__(self, watches: Iterable[WatchConfig]) -> None:
        self.rules = tuple(WatchRule.from_config(w) for w in watches)
        self.own_accounts = frozenset(a for r in self.rules for a in r.accounts)

    @classmethod
    def from_config(cls, config: Config) -> Membership:
        return cls(config.watches)

    @classmethod
    def of_rules(cls, rules: Iterable[WatchRule]) -> Membership:
        m = cls(())
        m.rules = tuple(rules)
        m.own_accounts = frozenset(a for r in m.rules for a in r.accounts)
        return m

    def rule(self, watch: str) -> WatchRule | None:
        return next((r for r in self.rules if r.name == watch), None)

    def decide(self, text: str, author_id: str | None) -> dict[str, str]:
        """The watches a post belongs to by its author and its own text: {watch: via}."""
        out: dict[str, str] = {}
        folded: str | None = None
        for r in self.rules:
            if author_id is not None and author_id in r.accounts:
                out[r.name] = "own"
                continue
            if folded is None:
                folded = fold(text)
            if r.query.matches_folded(folded):
                out[r.name] = "match"
        return out

    def decide_post(self, post: Post) -> dict[str, str]:
        return self.decide(post.text, post.author.id)

    def is_own(self, post: Post) -> bool:
        return post.author.id is not None and post.author.id in self.own_accounts


def neutral(sp: ScoredPost) -> ScoredPost:
    """The post as no evidence of sentiment: the brand's own words about itself."""
    return replace(sp, negative=0.0, label="neutral")


class OwnPostsNeutral(Engine):
    """The default risk engine, with the posts of the watches' own accounts made neutral
    before it sees them: the brand's 【辟谣】 post, however the model reads it, is not a
    complaint, and the reposts spreading it take its tone, not a complaint's."""

    def __init__(
        self,
        watches: Sequence[WatchConfig],
        options: EngineOptions | None = None,
        *,
        topics: TopicSeverity | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(watches, options, topics=topics, metrics=metrics)
        self.own_accounts = frozenset(a for w in watches for a in w.accounts)

    def observe(self, posts: Sequence[ScoredPost]) -> None:
        own = self.own_accounts
        if own:
            posts = [
                neutral(sp) if sp.post.author.id is not None and sp.post.author.id in own else sp
                for sp in posts
            ]
        super().observe(posts)
