from __future__ import annotations

import json
from pathlib import Path

from sentinel.risk.stories import StoryIndex, minhash_signatures, similarity
from sentinel.risk.text import fold

PAIRS = Path(__file__).parent.parent / "data" / "dup_pairs.jsonl"


def _sig(text: str):  # type: ignore[no-untyped-def]
    return minhash_signatures([fold(text)])[0]


def test_repost_chain_joins_the_root_story() -> None:
    idx = StoryIndex()
    root, _ = idx.assign(("weibo", "1"), 0.0, "艾克美酸奶有异物", None, _sig("艾克美酸奶有异物"))
    a, by_text = idx.assign(("weibo", "2"), 1.0, "转发微博", "1", None)
    b, _ = idx.assign(("weibo", "3"), 2.0, "扩散", "2", None)  # a repost of a repost
    assert a is root and b is root and not by_text
    orphan, _ = idx.assign(("weibo", "4"), 3.0, "转发", "999", None)  # parent never seen
    sibling, _ = idx.assign(("weibo", "5"), 3.0, "转发", "999", None)
    assert orphan is sibling and orphan.id == "999"


def test_near_duplicates_join_and_different_texts_do_not() -> None:
    idx = StoryIndex(threshold=0.5)
    text = "艾克美的酸奶喝出了异物，孩子喝完拉肚子，太恶心了！"
    first, _ = idx.assign(("weibo", "1"), 0.0, text, None, _sig(text))
    copy = "扩散！艾克美的酸奶喝出了异物，孩子喝完拉肚子，太恶心了！！[怒]"
    second, by_text = idx.assign(("weibo", "2"), 1.0, copy, None, _sig(copy))
    other = "今天天气不错，艾克美门店排队的人好多"
    third, _ = idx.assign(("weibo", "3"), 2.0, other, None, _sig(other))
    assert second is first and by_text
    assert third is not first


def test_signatures_do_not_depend_on_the_batch() -> None:
    texts = [
        fold(t) for t in ("艾克美酸奶有异物太恶心", "今天天气真好啊出去玩", "短", "艾克美酸奶有异物太恶心了")
    ]
    together = minhash_signatures(texts)
    alone = [minhash_signatures([t])[0] for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert (a is None and b is None) or (a is not None and b is not None and (a == b).all())
    assert together[2] is None


def test_memory_is_bounded_by_ttl() -> None:
    idx = StoryIndex(ttl=3600.0)
    for i in range(5000):
        t = float(i * 10)
        idx.assign(("weibo", str(i)), t, f"帖子{i}", None, None)
        idx.expire(t)
    assert len(idx) <= 3600 / 10 + 3600 / 10 + 1  # at most one ttl plus one sweep interval
    assert not idx.knows(("weibo", "0"))


def test_labelled_pairs_precision_and_recall() -> None:
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(pairs) >= 40
    tp = fp = fn = 0
    for pair in pairs:
        a, b = minhash_signatures([fold(pair["a"]), fold(pair["b"])])
        same = a is not None and b is not None and similarity(a, b) >= 0.5
        tp += same and pair["duplicate"]
        fp += same and not pair["duplicate"]
        fn += (not same) and pair["duplicate"]
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    assert precision >= 0.9, (precision, recall)
    assert recall >= 0.75, (precision, recall)


def test_a_batch_larger_than_one_hashing_chunk_signs_each_text_as_alone(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import random

    from sentinel.risk import stories

    rng = random.Random(7)
    alphabet = "艾克美酸奶有异物太恶心今天天气真好啊出去玩退款客服投诉"
    texts = [fold("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 60)))) for _ in range(3000)]
    assert sum(len(t) for t in texts) > 2 * stories.CHUNK_NGRAMS  # several chunks
    batch = stories.signatures_and_bands(texts)
    monkeypatch.setattr(stories, "CHUNK_NGRAMS", 10**9)  # one numpy pass, as before chunking
    whole = stories.signatures_and_bands(texts)
    alone = [stories.signatures_and_bands([t])[0] for t in texts[:200]]
    for a, b in zip(batch, whole, strict=True):
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert (a[0] == b[0]).all() and a[1] == b[1]
    for a, c in zip(batch, alone, strict=False):
        assert (a is None) == (c is None)
        if a is not None and c is not None:
            assert (a[0] == c[0]).all() and a[1] == c[1]
    assert any(x is None for x in batch) and any(x is not None for x in batch)
