"""`sentinel classify`: stdin JSONL -> stdout JSONL, order kept, malformed lines survive."""

from __future__ import annotations

import json
from typing import Any

import typer
from typer.testing import CliRunner

from sentinel.nlp.commands import register

from .conftest import MODEL_DIR


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """Stand-in for the real CLI root."""

    return app


POSTS: list[dict[str, Any]] = [
    {"platform": "weibo", "id": "1", "text": "质量太差了，用了两天就坏了，再也不买", "extra": {"kept": True}},
    {"platform": "weibo", "id": "2", "text": "很好用，物流也快，五星好评"},
    {"platform": "weibo", "id": "3", "text": "客服态度恶劣，打了十次电话都没人处理"},
    {"platform": "weibo", "id": "4", "text": ""},
]


def _run(stdin: str) -> tuple[list[dict[str, Any]], str]:
    result = CliRunner().invoke(_app(), ["classify", "--model", str(MODEL_DIR)], input=stdin)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return lines, result.stderr


def test_adds_sentiment_and_topics_in_order() -> None:
    out, _ = _run("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in POSTS))
    assert [o["id"] for o in out] == ["1", "2", "3", "4"]
    for post, got in zip(POSTS, out, strict=True):
        assert {k: got[k] for k in post} == post  # everything passes through untouched
        sentiment = got["sentiment"]
        # the bundled model has a learnt neutral class: P(neutral) comes with P(negative)
        assert isinstance(sentiment, dict) and set(sentiment) == {"label", "negative", "neutral"}
        assert sentiment["label"] in {"negative", "neutral", "positive"}
        assert 0.0 <= sentiment["negative"] <= 1.0 and 0.0 <= sentiment["neutral"] <= 1.0
        assert isinstance(got["topics"], list)
        for topic in got["topics"]:
            assert set(topic) == {"label", "score"} and 0.5 <= topic["score"] <= 1.0
    assert out[0]["sentiment"]["label"] == "negative"
    assert out[1]["sentiment"]["label"] == "positive"
    assert "service_failure" in [t["label"] for t in out[2]["topics"]]


def test_malformed_lines_keep_their_place_and_are_counted() -> None:
    good = json.dumps({"text": "发货太慢"}, ensure_ascii=False)
    stdin = "\n".join([good, "{not json", "[1, 2]", '{"text": 5}', '{"id": "no text"}', good]) + "\n"
    out, err = _run(stdin)
    assert len(out) == 6
    assert "sentiment" in out[0] and "sentiment" in out[5]
    assert all("error" in o and "sentiment" not in o for o in out[1:5])
    assert [o["line"] for o in out[1:5]] == [2, 3, 4, 5]
    assert "2 posts, 4 malformed" in err


def test_many_posts_cross_chunk_boundaries_in_order() -> None:
    posts = [{"id": str(i), "text": "不错" * (i % 7)} for i in range(1100)]
    out, _ = _run("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts))
    assert [o["id"] for o in out] == [str(i) for i in range(1100)]


def test_lone_surrogates_and_deep_nesting_do_not_stop_the_stream() -> None:
    # '"\ud800"' is valid JSON but not valid Unicode: no UTF-8 output can hold it
    lone = '{"text": "\\ud800 质量太差 \\ud83d\\ude00", "author": {"name": "\\udfff"}}'
    deep = '{"text": "x", "extra": ' + "[" * 100_000 + "]" * 100_000 + "}"
    good = json.dumps({"text": "发货太慢"}, ensure_ascii=False)
    out, err = _run("\n".join([lone, deep, good]) + "\n")
    assert len(out) == 3
    assert out[0]["text"] == "\ufffd 质量太差 \U0001f600"  # a valid pair stays an emoji
    assert out[0]["author"]["name"] == "\ufffd"
    assert "sentiment" in out[0]
    assert out[1] == {"error": "invalid JSON: nested too deeply", "line": 2}
    assert "sentiment" in out[2]
    assert "2 posts, 1 malformed" in err


def test_a_repost_is_also_read_with_what_it_reposts() -> None:
    posts = [
        POSTS[0],  # a complaint
        {"platform": "weibo", "id": "r1", "text": "转发微博", "repost_of": "1"},  # spreads it
        {"platform": "weibo", "id": "r2", "text": "转发微博", "context": POSTS[1]["text"]},  # a cheer
        {"platform": "weibo", "id": "r3", "text": "转发微博", "repost_of": "never-seen"},
        {"platform": "qq", "id": "r4", "text": "转发微博", "repost_of": "1"},  # another platform's "1"
    ]
    out, _ = _run("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts))
    complaint, cheer_reposted = out[0]["sentiment"]["negative"], out[2]["sentiment"]["in_context"]
    assert "in_context" not in out[0]["sentiment"]  # an original has no context
    assert out[1]["sentiment"]["in_context"] == complaint > 0.8  # says what it reposts
    assert cheer_reposted < 0.2  # not a complaint under a cheer
    # the four characters alone read calm; under a complaint they spread it
    assert out[1]["sentiment"]["negative"] < 0.5 < out[1]["sentiment"]["in_context"]
    assert "in_context" not in out[3]["sentiment"] and "in_context" not in out[4]["sentiment"]
    assert out[1]["sentiment"]["negative"] == out[2]["sentiment"]["negative"]  # the model's own reading stays
