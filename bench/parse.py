"""Weibo parsing speed: cards per second on one core (target >= 5,000).

Builds realistic pages with the simulator's own converters (HTML text with emoticons and
topics, mixed time formats, "1.2万" counters, reposts with their originals, long posts,
card_type 11 groups), then times JSON decoding plus ``parse_page``, which is what the
collector does per page.

    python bench/parse.py [--cards 20000] [--page-size 20]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timedelta

from sentinel.clock import UTC8
from sentinel.simulate.feeds import Feed, builtin_posts, to_mblog
from sentinel.sources.weibo_parse import parse_page


def build_pages(cards: int, page_size: int) -> tuple[list[bytes], int]:
    posts = list(builtin_posts(cards, seed=1))
    for i, post in enumerate(posts):
        if i % 10 == 9:
            post["text"] = post["text"] + "，" + "后续情况我会持续更新，大家帮忙扩散" * 8  # a long post
    feed = Feed(posts)
    records = feed.select()
    now_dt = datetime.fromtimestamp(records[0]["_ts"], UTC8) + timedelta(minutes=5)
    pages = []
    for start in range(0, len(records), page_size):
        chunk = records[start : start + page_size]
        card_list = []
        for i, record in enumerate(chunk):
            card = {"card_type": 9, "mblog": to_mblog(record, now_dt, feed=feed, style="mixed")}
            card_list.append({"card_type": 11, "card_group": [card]} if i % 4 == 3 else card)
        body = {"ok": 1, "data": {"cardlistInfo": {"page": None}, "cards": card_list}}
        pages.append(json.dumps(body, ensure_ascii=False).encode("utf-8"))
    return pages, len(records)


def measure(pages: list[bytes]) -> tuple[float, int]:
    now = datetime(2026, 11, 28, 20, 0, tzinfo=UTC8)
    started = time.perf_counter()
    items = 0
    for body in pages:
        page = parse_page(json.loads(body.decode("utf-8")), now)
        items += len(page.items)
    return time.perf_counter() - started, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pages, cards = build_pages(args.cards, args.page_size)
    size = sum(len(p) for p in pages)
    measure(pages[:20])  # warm up
    best = min(measure(pages)[0] for _ in range(args.repeat))
    print(f"{cards} cards in {len(pages)} pages ({size / 1e6:.1f} MB JSON)")
    print(f"best of {args.repeat}: {best:.3f} s -> {cards / best:,.0f} cards/s on one core")


if __name__ == "__main__":
    main()
