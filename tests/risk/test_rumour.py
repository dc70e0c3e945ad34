"""Rumour-likeness of a story (sentinel.risk.rumour): the scorer matches the fit it was made
from, training writes a model that leaves the held-out cascades out, and the engine reads a
calm story that reads like a rumour as dark."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from risk_helpers import post

from sentinel.config import WatchConfig
from sentinel.risk import Engine
from sentinel.risk.engine import load_rumour
from sentinel.risk.options import EngineOptions
from sentinel.risk.rumour import RumourModel, document

RUMOURS = [
    "网传{}工厂用过期原料，求扩散！",
    "紧急扩散：据说{}的产品吃出问题，是真的吗",
    "网传{}老板跑路了，大家转起",
]
PLAIN = ["今天去{}买了新款，挺好用的", "{}新品发布会明天下午两点", "周末和朋友在{}门店喝咖啡"]
REACT_R = ["真的假的？", "太可怕了", "求证", "转起，大家小心"]
REACT_P = ["好看", "支持一下", "哈哈哈", "想买"]


def _cascades(path: Path, n: int = 40) -> list[str]:
    events = []
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i in range(n):
            rumour = i % 2 == 0
            texts = RUMOURS if rumour else PLAIN
            reacts = REACT_R if rumour else REACT_P
            event = f"e{i}"
            events.append(event)
            row = {
                "event": event,
                "rumor": rumour,
                "original": {"text": texts[i % 3].format(f"品牌{i}"), "author": {"followers": 10}},
                "reposts": [
                    [j * 30, f"u{j}", reacts[(i + j) % 4] if j % 3 else "转发微博"] for j in range(12)
                ],
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return events


def test_scoring_matches_the_scikit_learn_fit_it_was_made_from() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    docs = [t.format("鹿岭") + " " + r for t in RUMOURS + PLAIN for r in REACT_R + REACT_P]
    labels = [i < len(RUMOURS) * 8 for i in range(len(docs))]
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    clf = LogisticRegression(C=4.0).fit(vec.fit_transform(docs), labels)
    model = RumourModel(
        {g: (float(vec.idf_[i]), float(clf.coef_[0, i])) for g, i in vec.vocabulary_.items()},
        float(clf.intercept_[0]),
    )
    probe = ["网传鹿岭出事了 真的假的", "鹿岭  新品 好看 ABC", "完全没见过的字", ""]
    want = clf.predict_proba(vec.transform(probe))[:, 1]
    assert [model.probability(t) for t in probe] == pytest.approx(list(want), abs=1e-9)


def test_a_broken_model_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "rumour.json"
    bad.write_text('{"kind": "tfidf-char-logreg", "weights": ', encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read the rumour model"):
        RumourModel.load(bad)
    bad.write_text('{"kind": "something else"}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a rumour model"):
        RumourModel.load(bad)
    assert load_rumour("") is None
    assert load_rumour(str(tmp_path / "missing.json")) is None  # the engine reads tone alone then


def test_training_writes_a_model_that_tells_rumours_and_leaves_held_out_cascades_out(tmp_path: Path) -> None:
    from sentinel.nlp.rumour_train import fit_rumour

    data = tmp_path / "cascades.jsonl.gz"
    events = _cascades(data)
    held = tmp_path / "held.txt"
    held.write_text("\n".join(events[:10]) + "\n", encoding="utf-8")
    out = tmp_path / "rumour.json"
    report = fit_rumour(data, out, holdout=[held])
    assert report["cascades"] == 30
    model = RumourModel.load(out)
    assert model.probability(document("网传鹿岭工厂用过期原料", ["真的假的？"])) > 0.6
    assert model.probability(document("鹿岭新品发布会", ["好看"])) < 0.4
    assert json.loads(out.read_text(encoding="utf-8"))["report"]["cascades"] == 30


def _toy_model() -> RumourModel:
    return RumourModel({"网传": (1.0, 6.0), "真的假": (1.0, 4.0), "好": (1.0, -4.0)}, bias=-1.0)


def _feed(engine: Engine, start: datetime, n: int = 12) -> None:
    posts = [post("r0", "网传鹿岭工厂用过期原料", start, negative=0.3, followers=5000)]
    posts += [
        post(
            f"r{i}",
            "真的假的" if i % 2 else "转发微博",
            start + timedelta(seconds=20 * i),
            repost_of="r0",
            negative=0.3,
        )
        for i in range(1, n)
    ]
    engine.observe(posts)
    engine.evaluate(start + timedelta(minutes=5))


def test_a_calm_story_that_reads_like_a_rumour_counts_as_dark(start: datetime) -> None:
    watch = WatchConfig(name="w", query="鹿岭")
    on = Engine([watch], EngineOptions(rumour_from=0.3), rumour=_toy_model())
    off = Engine([watch], EngineOptions(rumour_model=""))
    for engine in (on, off):
        _feed(engine, start)
    story_on, story_off = on.stories.stories["r0"], off.stories.stories["r0"]
    assert story_on.reactions is not None and len(story_on.reactions) == 6  # worded ones only
    assert story_off.reactions is None  # nothing kept without a model
    t = (start + timedelta(minutes=5)).timestamp()
    p = _toy_model().probability(document(story_on.text, story_on.reactions))
    assert p > 0.6
    assert on._lives(on.watches[0], t, ["r0"])["r0"].rumour == pytest.approx(min(1.0, (p - 0.3) / 0.3))
    assert off._lives(off.watches[0], t, ["r0"])["r0"].rumour == 0.0


def test_rumour_voices_make_reposts_of_a_rumour_negative_voices(start: datetime) -> None:
    watch = WatchConfig(name="w", query="鹿岭")
    plain = Engine([watch], EngineOptions(rumour_from=0.3), rumour=_toy_model())
    voiced = Engine([watch], EngineOptions(rumour_from=0.3, rumour_voices=0.8), rumour=_toy_model())
    for engine in (plain, voiced):
        _feed(engine, start)
    assert len(voiced.watches[0].neg_authors) > len(plain.watches[0].neg_authors)
