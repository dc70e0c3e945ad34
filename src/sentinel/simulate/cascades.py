"""Labelled streams built from real Weibo repost cascades, for judging detection on real spreading.

The synthetic ``month`` scenario (:mod:`sentinel.simulate.scenario`) is what the risk engine
was first tuned on; real cascades are shaped differently (bursty first minutes, long tails,
reactions of a word or two, bare reposts). This module builds 30-day streams for one brand
each from the CED cascades in ``../shared/data/weibo_cascades.jsonl.gz`` (see that folder's
README), with every post labelled ``{"phase": "background" | "crisis" | "decoy", "incident":
id, "kind": …}``:

* **background**: everyday posts that mention the brand, with a daily rhythm and day-to-day
  and hour-to-hour overdispersion (a negative-binomial count per hour), at ``volume`` posts an
  hour on the daily mean; texts are real Weibo texts (reactions and originals from cascades
  no incident uses) with the brand placed in them, a share ``negative_share`` of them
  negative in tone (the tone comes from a caller-supplied function, e.g. the model);
* **small cascades** every few days: real cascades thinned to at most ``SMALL_MAX`` reposts,
  whose original names the brand (background: an alert on them is a false alarm);
* **one crisis**: a rumour cascade with its real repost timing, reactions and original
  author, the brand placed in the original's text;
* **decoys**: a promotion burst by the brand's own account (reposted for prizes, copied by
  bots), a positive viral cascade whose original is given to a celebrity, and harmless real
  cascades.

Reposts look as the platform gives them: the reposter's own words followed by the ``//@name:``
chain they reposted through (the data records none: ``CHAIN_SHARE`` of the reposts are drawn
as made through an earlier one), ``转发微博`` when they added nothing, and ``repost_of`` = the
original's id. The data gives reposters' ids but not their
followers: those are drawn from a log-normal fixed by the author id, so one account has
the same reach everywhere.

:func:`plan_suite` deals cascades to streams so that no cascade is used twice; streams with
an even index form the tuning half and the odd ones the held-out half, each half with its own
background texts (no text is in two streams).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "BRANDS",
    "Cascade",
    "StreamPlan",
    "build_stream",
    "load_cascades",
    "own_words",
    "plan_suite",
]

UTC8 = timezone(timedelta(hours=8))
SMALL_MAX = 60  # reposts in a "small" everyday cascade
CRISIS_MIN = 120  # reposts a crisis cascade has at least
# fictional brands, none of them a substring of any text in the cascades (checked by plan_suite)
BRANDS = (
    "艾克美",
    "禾乐乳业",
    "蓝鲸优品",
    "初栖酒店",
    "乐途出行",
    "星沐家居",
    "柏芮护肤",
    "知麦面包",
    "鹿岭茶饮",
    "云朵快递",
    "橙果科技",
    "青禾超市",
    "沃森宠物",
    "米朵童装",
    "途悦汽车",
    "暖阳家电",
    "嘉禾影城",
    "瑞麦咖啡",
    "朗逸教育",
    "森屿民宿",
    "北辰医药",
    "优卡手机",
    "拾光珠宝",
    "悦享健身",
    "海澜鲜生",
    "鸿途物流",
    "安鑫保险",
    "乐淘商城",
    "雅诗兰黛美",
    "橡果家具",
    "蜂鸟外卖",
    "锦程航空",
    "绿源果业",
    "晨曦牛奶",
    "知音耳机",
    "金穗米业",
    "元气零食",
    "澄净水务",
    "星火游戏",
    "秋实书店",
)
# hour-of-day activity on Weibo (local time), mean 1.0
_RHYTHM_RAW = (
    0.55,
    0.35,
    0.22,
    0.15,
    0.12,
    0.14,
    0.3,
    0.6,
    0.95,
    1.2,
    1.35,
    1.4,
    1.35,
    1.25,
    1.2,
    1.2,
    1.25,
    1.3,
    1.35,
    1.45,
    1.55,
    1.6,
    1.45,
    1.0,
)
RHYTHM = tuple(x * 24 / sum(_RHYTHM_RAW) for x in _RHYTHM_RAW)
_CHAIN = re.compile(r"//@")
# A share of the reposts is made through an earlier repost (one of the CHAIN_FROM before it)
# and carries its text as a "//@name:" chain, as the platform shows it; the CED texts carry
# none. Texts are cut at CHAIN_CHARS characters (long chains are, on the platform).
CHAIN_SHARE, CHAIN_FROM, CHAIN_CHARS = 0.3, 30, 240
_BARE_TEXTS = frozenset({"", "转发微博", "轉發微博", "Repost", "repost"})
_PROMO = (
    "【{b}年终狂欢】全场五折起，转发+关注抽10位送年度大礼包！",
    "{b}新品上市！转发本条微博，抽3位粉丝送新品体验装[礼物]",
    "感恩有你！{b}周年庆，今晚8点直播间福利不断，转发抽奖～",
    "{b}×你最爱的明星联名款今日开售，转发评论抽送签名周边！",
)
_PROMO_REPLIES = (
    "抽我抽我[哈哈]",
    "转发抽奖，求好运",
    "支持{b}！",
    "好物推荐，已下单",
    "希望中奖[爱你]",
    "冲冲冲",
    "{b}的东西一直很好用",
    "已关注，求中",
    "[心][心][心]",
    "转发微博",
    "太划算了吧",
    "今年一定要中一次[哈哈]",
    "锦鲤附体",
    "好看！想要",
    "买买买",
)


@dataclass(slots=True)
class Cascade:
    """One real cascade: the original post and its reposts ``(seconds after, author id, text)``."""

    event: str
    rumor: bool
    original: dict[str, Any]
    reposts: list[tuple[int, str, str]]

    @property
    def size(self) -> int:
        return len(self.reposts)

    def texts(self) -> Iterator[str]:
        yield self.original["text"]
        for _, _, text in self.reposts:
            yield text


def load_cascades(path: str | Path) -> list[Cascade]:
    """Every cascade in a ``weibo_cascades.jsonl.gz``-shaped file, reposts in time order."""
    out: list[Cascade] = []
    with (
        gzip.open(path, "rt", encoding="utf-8") if str(path).endswith(".gz") else open(path, encoding="utf-8")
    ) as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            reposts = sorted((int(r[0]), str(r[1]), str(r[2])) for r in d.get("reposts", []))
            out.append(Cascade(str(d["event"]), bool(d.get("rumor")), d["original"], reposts))
    return out


def own_words(text: str) -> str:
    """What a reposter wrote themselves: the text before the first ``//@`` of the chain."""
    m = _CHAIN.search(text)
    return (text[: m.start()] if m else text).strip()


def _hash01(*parts: object) -> float:
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def suite_half(words: str) -> int:
    """Which half's background pool a reaction's own words go to (0 tuning, 1 held-out)."""
    return int(_hash01("half", words) * 2)


def followers_of(author: str) -> int:
    """A reposter's followers: log-normal (median ~180, a long tail), fixed by the author id."""
    u = min(max(_hash01("followers", author), 1e-12), 1 - 1e-12)
    z = _inv_norm(u)
    return int(min(5e7, math.exp(math.log(180.0) + 1.7 * z)))


def _inv_norm(p: float) -> float:
    # Acklam's rational approximation of the normal quantile (|error| < 1.2e-9)
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    lo = 0.02425
    if p < lo:
        q = math.sqrt(-2 * math.log(p))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    if p > 1 - lo:
        return -_inv_norm(1 - p)
    q = p - 0.5
    r = q * q
    return (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )


def place_brand(text: str, brand: str, rng: random.Random) -> str:
    """The text with the brand put in it the way people name one (a tag, a subject, an aside)."""
    text = text.strip() or "转发微博"
    style = rng.random()
    if style < 0.3:
        return f"#{brand}# {text}"
    if style < 0.55:
        return f"{brand}{text}" if rng.random() < 0.5 else f"{brand}：{text}"
    if style < 0.8:
        cut = [m.end() for m in re.finditer(r"[，,。！!？?；;]", text[:-1])]
        if cut:
            at = rng.choice(cut)
            return f"{text[:at]}{brand}{text[at:]}"
        return f"{text} {brand}"
    return f"{text}（{brand}）" if rng.random() < 0.5 else f"{text} @{brand}"


@dataclass(slots=True)
class StreamPlan:
    """What one stream is made of (cascades dealt by :func:`plan_suite`)."""

    index: int
    brand: str
    volume: float  # background posts an hour on the daily mean
    negative_share: float  # of the background
    crisis: Cascade
    viral: Cascade  # the positive viral decoy
    harmless: list[Cascade]
    small: list[Cascade]
    texts: list[str] = field(default_factory=list)  # background text pool (this half's)
    seed: int = 0

    @property
    def half(self) -> str:
        return "tuning" if self.index % 2 == 0 else "held-out"


def plan_suite(
    cascades: Sequence[Cascade],
    tone: Callable[[Cascade], float],
    *,
    streams: int = 40,
    seed: int = 2026,
) -> list[StreamPlan]:
    """Deal disjoint cascades to ``streams`` streams (even index: tuning, odd: held-out).

    ``tone(cascade)`` is the share of its reactions that read negative; it picks crises
    (rumours whose reactions are at least 45 % negative), positive viral decoys (at most 22 %)
    and harmless ones (at most 25 %). (The bundled model reads about 43 % of a median
    non-rumour cascade's reactions as negative, 61 % of a rumour's.)
    """
    rng = random.Random(seed)
    order = sorted(cascades, key=lambda c: _hash01(seed, c.event))
    crises = [c for c in order if c.rumor and c.size >= CRISIS_MIN and tone(c) >= 0.45]
    used: set[str] = set()

    def take(pool: list[Cascade], n: int) -> list[Cascade]:
        out = []
        for c in pool:
            if c.event not in used:
                used.add(c.event)
                out.append(c)
                if len(out) == n:
                    return out
        raise ValueError(f"not enough cascades for {streams} streams")

    crisis = take(crises, streams)
    viral = take([c for c in order if not c.rumor and c.size >= 150 and tone(c) <= 0.22], streams)
    harmless = take([c for c in order if not c.rumor and 60 <= c.size and tone(c) <= 0.25], streams)
    # everyday cascades: real ones thinned to at most SMALL_MAX reposts (the data holds few
    # cascades that small; a random subset keeps the shape of the timing, sparser)
    small = [_thinned(c, rng) for c in take(order, streams * 8)]
    # the background: reactions with words of their own, from cascades no incident uses, split
    # by half so that the held-out streams share no text with the tuning ones
    halves: list[list[str]] = [[], []]
    seen: set[str] = set()
    for c in order:
        if c.event in used:
            continue
        for text in c.texts():
            words = own_words(text)
            if len(words) >= 6 and words not in seen:
                seen.add(words)
                halves[suite_half(words)].append(words)
    for pool in halves:
        pool.sort(key=lambda t: _hash01(seed, t))
    texts_all = [t for c in cascades for t in c.texts()]
    brands = [b for b in BRANDS if not any(b in t for t in texts_all)]
    plans = []
    for i in range(streams):
        plans.append(
            StreamPlan(
                index=i,
                brand=brands[i % len(brands)],
                volume=round(math.exp(rng.uniform(math.log(5.0), math.log(40.0))), 1),
                negative_share=round(rng.uniform(0.2, 0.4), 2),
                crisis=crisis[i],
                viral=viral[i],
                harmless=[harmless[i]],
                small=small[i * 8 : i * 8 + 8],
                texts=halves[i % 2],
                seed=seed * 1000 + i,
            )
        )
    # each stream of a half gets its own slice of that half's pool (no text in two streams)
    for half in (0, 1):
        members = [p for p in plans if p.index % 2 == half]
        for k, p in enumerate(members):
            p.texts = halves[half][k :: len(members)]
    return plans


def _thinned(c: Cascade, rng: random.Random) -> Cascade:
    k = rng.randint(15, SMALL_MAX)
    if c.size <= k:
        return c
    keep = sorted(rng.sample(range(c.size), k))
    return Cascade(c.event, c.rumor, c.original, [c.reposts[i] for i in keep])


def _post(
    pid: str,
    text: str,
    ts: float,
    author: str,
    followers: int,
    *,
    verified: bool = False,
    repost_of: str | None = None,
    phase: str = "background",
    incident: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    return {
        "platform": "weibo",
        "id": pid,
        "text": text,
        "created_at": datetime.fromtimestamp(ts, UTC8).isoformat(),
        "author": {"id": author, "name": author, "followers": followers, "verified": verified},
        "reposts": 0,
        "comments": 0,
        "likes": 0,
        "repost_of": repost_of,
        "label": {"phase": phase, "incident": incident, "kind": kind},
    }


def _cascade_posts(
    c: Cascade,
    brand: str,
    onset: float,
    rng: random.Random,
    *,
    phase: str,
    incident: str,
    kind: str,
    root_followers: int | None = None,
    root_verified: bool | None = None,
    limit_s: float = 72 * 3600,
) -> list[dict[str, Any]]:
    root_id = f"{incident}-0"
    author = c.original.get("author") or {}
    followers = int(author.get("followers") or 0) if root_followers is None else root_followers
    verified = bool(author.get("verified")) if root_verified is None else root_verified
    out = [
        _post(
            root_id,
            place_brand(c.original["text"], brand, rng),
            onset,
            f"{incident}-author",
            followers,
            verified=verified,
            phase=phase,
            incident=incident,
            kind=kind,
        )
    ]
    for k, (secs, who, text) in enumerate(c.reposts, 1):
        if secs > limit_s:
            break
        text = text.strip()
        if k > 1 and _hash01("via", incident, k) < CHAIN_SHARE:
            # reposted through an earlier repost: the platform appends its words as "//@name:"
            # (and says nothing of its own where the reposter wrote nothing)
            parent = out[k - 1 - int(_hash01("parent", incident, k) * min(k - 1, CHAIN_FROM))]
            own = "" if text in _BARE_TEXTS else text
            text = f"{own}//@{parent['author']['name']}:{parent['text']}"[:CHAIN_CHARS]
        text = text or "转发微博"
        out.append(
            _post(
                f"{incident}-{k}",
                text,
                onset + max(1, secs),
                who,
                followers_of(who),
                verified=_hash01("verified", who) < 0.01,
                repost_of=root_id,
                phase=phase,
                incident=incident,
                kind=kind,
            )
        )
    return out


def _promo_posts(brand: str, onset: float, rng: random.Random, incident: str) -> list[dict[str, Any]]:
    root = f"{incident}-0"
    out = [
        _post(
            root,
            rng.choice(_PROMO).format(b=brand),
            onset,
            f"{brand}官方",
            850_000,
            verified=True,
            phase="decoy",
            incident=incident,
            kind="promo",
        )
    ]
    n = rng.randint(150, 450)
    t = onset
    for k in range(1, n + 1):
        t += rng.expovariate(1.0 / 25.0) * (1.0 + (t - onset) / 1800.0)  # fast start, slowing
        who = f"u{rng.randrange(10**9)}"
        bot = rng.random() < 0.35
        text = rng.choice(_PROMO_REPLIES).format(b=brand)
        if bot:  # copies of the promotion by accounts with next to no followers
            out.append(
                _post(
                    f"{incident}-{k}",
                    out[0]["text"],
                    t,
                    who,
                    rng.randint(0, 8),
                    phase="decoy",
                    incident=incident,
                    kind="promo",
                )
            )
        else:
            out.append(
                _post(
                    f"{incident}-{k}",
                    text,
                    t,
                    who,
                    followers_of(who),
                    repost_of=root,
                    phase="decoy",
                    incident=incident,
                    kind="promo",
                )
            )
    return out


def build_stream(
    plan: StreamPlan,
    negative_text: Callable[[str], bool],
    *,
    days: float = 30.0,
    start: datetime | None = None,
) -> list[dict[str, Any]]:
    """The labelled posts of one stream, oldest first (ties broken by id)."""
    rng = random.Random(plan.seed)
    start = start or datetime(2026, 10, 1, tzinfo=UTC8)
    t0 = start.timestamp()
    end = t0 + days * 86400
    brand = plan.brand
    posts: list[dict[str, Any]] = []
    negative = [t for t in plan.texts if negative_text(t)]
    other = [t for t in plan.texts if not negative_text(t)]
    rng.shuffle(negative)
    rng.shuffle(other)
    ni = oi = 0
    authors = max(500, int(plan.volume * 24 * days / 3))  # people who mention the brand (some often)
    # background, hour by hour: negative-binomial counts (gamma-mixed Poisson) around the rhythm
    day_factor = 1.0
    n = 0
    for h in range(int(days * 24)):
        hour_start = t0 + h * 3600
        local_hour = datetime.fromtimestamp(hour_start, UTC8).hour
        if local_hour == 0 or h == 0:
            day_factor = rng.gammavariate(12.0, 1 / 12.0)
        mean = plan.volume * RHYTHM[local_hour] * day_factor * rng.gammavariate(6.0, 1 / 6.0)
        for _ in range(_poisson(rng, mean)):
            n += 1
            # each text once while the stream's pools last, then again from the same pool: a big
            # brand's month outruns its pool, and drawing from both pools alike once one ran out
            # moved the stream's negative share mid-month (0.16 -> 0.40 on day 10 of one stream)
            if rng.random() < plan.negative_share and negative:
                if ni < len(negative):
                    text, ni = negative[ni], ni + 1
                else:
                    text = rng.choice(negative)
            elif oi < len(other):
                text, oi = other[oi], oi + 1
            else:
                text = rng.choice(other or plan.texts)
            who = f"b{plan.index}-{int(authors * rng.random() ** 2)}"
            big = _hash01("kol", who) < 0.01
            posts.append(
                _post(
                    f"bg{plan.index}-{n}",
                    place_brand(text, brand, rng),
                    hour_start + rng.random() * 3600,
                    who,
                    followers_of(who) * (300 if big else 1),
                    verified=big,
                )
            )
    # incidents: spaced out over the month, in a shuffled order, never overlapping
    kinds = ["crisis", "viral", "promo", *(["harmless"] * len(plan.harmless))]
    rng.shuffle(kinds)
    slots = _spread(rng, len(kinds), t0 + 7 * 86400, end - 3 * 86400, gap=4 * 86400)
    harmless = iter(plan.harmless)
    for k, (kind, onset) in enumerate(zip(kinds, slots, strict=True)):
        inc = f"s{plan.index}-{kind}-{k}"
        if kind == "crisis":
            posts += _cascade_posts(
                plan.crisis, brand, onset, rng, phase="crisis", incident=inc, kind="rumour"
            )
        elif kind == "viral":
            posts += _cascade_posts(
                plan.viral,
                brand,
                onset,
                rng,
                phase="decoy",
                incident=inc,
                kind="positive_viral",
                root_followers=rng.randint(2_000_000, 30_000_000),
                root_verified=True,
            )
        elif kind == "promo":
            posts += _promo_posts(brand, onset, rng, inc)
        else:
            posts += _cascade_posts(
                next(harmless), brand, onset, rng, phase="decoy", incident=inc, kind="harmless"
            )
    # small everyday cascades, every few days (part of the background)
    for k, c in enumerate(plan.small):
        onset = t0 + rng.uniform(0.5, days - 0.5) * 86400
        posts += _cascade_posts(
            c,
            brand,
            onset,
            rng,
            phase="background",
            incident=f"s{plan.index}-small-{k}",
            kind="small",
            limit_s=end - onset,
        )
    posts = [p for p in posts if datetime.fromisoformat(p["created_at"]).timestamp() < end]
    posts.sort(key=lambda p: (p["created_at"], p["id"]))
    return posts


def _spread(rng: random.Random, n: int, lo: float, hi: float, gap: float) -> list[float]:
    """``n`` times in [lo, hi], at least ``gap`` apart, in random positions."""
    slack = (hi - lo) - gap * (n - 1)
    if slack < 0:
        raise ValueError("the stream is too short for its incidents")
    cuts = sorted(rng.uniform(0, slack) for _ in range(n))
    return [lo + c + i * gap for i, c in enumerate(cuts)]


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def write_jsonl(posts: Iterable[dict[str, Any]], path: str | Path) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for p in posts:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
            n += 1
    return n
