"""The reaction reader (sentinel.nlp.reaction_reader): a reaction's words read with the post
they answer and the crowd before it, fitted on hand-labelled reactions the model did not train on.

Needs only tests/data and the shipped model; the one test that reproduces the shipped reader
byte for byte reads the crowds from ../shared/data and is skipped where that is missing."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sentinel.nlp.lexicon import LexiconClassifier
from sentinel.nlp.reaction_reader import (
    CROWD,
    FILENAME,
    Crowds,
    ReactionReader,
    crowd_features,
    fit_reaction_reader,
)
from sentinel.nlp.reactions import crowds_of
from sentinel.nlp.transformer import TransformerClassifier

from .conftest import MODEL_DIR
from .test_classify_cli import _app, _run

DATA = Path(__file__).resolve().parents[1] / "data"
SHARED_CASCADES = Path(__file__).resolve().parents[3] / "shared" / "data" / "weibo_cascades.jsonl.gz"
SCANDAL = "【某乳企奶粉检出致癌物】多名婴儿食用后住院，家长愤怒维权，企业至今未回应"
CHEER = "今天是我们品牌十周年，感谢大家一路支持，转发抽三位送新品！"


def _rows(name: str) -> list[dict[str, Any]]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def test_the_shipped_reader_reads_crisis_reactions_better_than_the_model(
    shipped: TransformerClassifier,
) -> None:
    reader = ReactionReader.beside(MODEL_DIR)
    assert reader is not None
    rows = _rows("crisis_reactions.jsonl")
    gold = [r["label"] == "negative" for r in rows]
    alone = [s.negative >= 0.5 for s in shipped.classify([r["text"] for r in rows])]
    read = [p >= 0.5 for p in reader.read(shipped, [r["text"] for r in rows], [r["context"] for r in rows])]

    def accuracy(calls: list[bool]) -> float:
        return sum(g == c for g, c in zip(gold, calls, strict=True)) / len(gold)

    # measured without crowds 0.827 against the model's 0.776 (0.850 after their crowds: docs/model.md)
    assert accuracy(read) > accuracy(alone) + 0.03, (accuracy(read), accuracy(alone))
    # the shipped reader was fitted with the crowds, and weighs how negative they read
    body = json.loads((MODEL_DIR / FILENAME).read_text(encoding="utf-8"))
    assert body["report"]["crowd"] is True and body["coef"]["crowd_negative"] > 1.0


def test_a_laugh_under_a_scandal_reads_darker_than_under_a_cheer(shipped: TransformerClassifier) -> None:
    reader = ReactionReader.beside(MODEL_DIR)
    assert reader is not None
    under_scandal, under_cheer = reader.read(shipped, ["[哈哈]", "[哈哈]"], [SCANDAL, CHEER])
    assert under_scandal > under_cheer
    # a bare repost says nothing by its own words, under either (what it spreads is in_context's)
    assert max(reader.read(shipped, ["转发微博", "转发微博"], [SCANDAL, CHEER])) < 0.5
    with pytest.raises(ValueError, match="contexts"):
        reader.read(shipped, ["a", "b"], [SCANDAL])


def test_fit_save_and_load_give_the_same_reading(tmp_path: Path) -> None:
    rows = _rows("reaction_train.jsonl")[:900]
    clf = LexiconClassifier()
    reader, report = fit_reaction_reader(clf, rows, skip=300)
    assert report["rows"] == 600 and report["skipped"] == 300
    assert 0.5 < report["cv_accuracy"] <= 1.0
    path = tmp_path / FILENAME
    reader.save(path, {"report": report})
    again = ReactionReader.load(path)
    texts = [r["text"] for r in rows[:50]]
    contexts = [r["context"] for r in rows[:50]]
    assert again.read(clf, texts, contexts) == pytest.approx(reader.read(clf, texts, contexts), abs=1e-4)
    with pytest.raises(ValueError, match="did not train on"):
        fit_reaction_reader(clf, rows, skip=850)


def test_a_file_that_is_not_a_reader_is_refused(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    path.write_text('{"kind": "tfidf-char-logreg"}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a reaction reader"):
        ReactionReader.load(path)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read"):
        ReactionReader.load(path)
    assert ReactionReader.beside(tmp_path / "nowhere") is None


@pytest.mark.skipif(not SHARED_CASCADES.is_file(), reason="the crowds come from ../shared/data")
def test_train_reactions_reproduces_the_shipped_reader(
    tmp_path: Path, shipped: TransformerClassifier
) -> None:
    model = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model, ignore=shutil.ignore_patterns(FILENAME, "rumour.json"))
    args = ["train-reactions", "--model", str(model), "--cascades", str(SHARED_CASCADES)]
    # in a process of its own, as a user runs it: two minutes and 0.8 GB here, which the test
    # process then need not carry; and a CI run is told, not killed, if it ever stalls
    try:
        result = subprocess.run(
            [sys.executable, "-m", "sentinel.cli", *args], capture_output=True, text=True, timeout=1200
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"train-reactions ran past 20 minutes (2 here); it said: {exc.stderr!r}")
    assert result.returncode == 0, result.stderr
    # the skip comes from the model's training report (labelled_limit 3000)
    report = json.loads(result.stdout.splitlines()[0])
    assert report["skipped"] == 3000 and report["crowd"] is True
    again, before = (json.loads((d / FILENAME).read_text(encoding="utf-8")) for d in (model, MODEL_DIR))
    # the same n-grams with the same idf: the data and the model's readings are reproduced
    assert {g: w[0] for g, w in again["weights"].items()} == {g: w[0] for g, w in before["weights"].items()}
    # Not byte for byte: lbfgs stops within its tolerance at a point that depends on the CPU's
    # floating-point kernels (a refit on another host moved coefficients by about 1 %, CV
    # 0.8304 -> 0.8307, and one of 688 crisis reactions across 0.5), so the reading is compared
    assert abs(again["report"]["cv_accuracy"] - before["report"]["cv_accuracy"]) <= 0.003
    rows = _rows("crisis_reactions.jsonl")
    texts, contexts = [r["text"] for r in rows], [r["context"] for r in rows]
    new, old = (ReactionReader.load(d / FILENAME).read(shipped, texts, contexts) for d in (model, MODEL_DIR))
    assert max(abs(a - b) for a, b in zip(new, old, strict=True)) < 0.05
    assert sum((a >= 0.5) != (b >= 0.5) for a, b in zip(new, old, strict=True)) <= len(rows) // 100


def test_train_reactions_refuses_a_cascades_file_that_is_not_there(tmp_path: Path) -> None:
    args = ["train-reactions", "--model", str(MODEL_DIR), "--cascades", str(tmp_path / "none.jsonl.gz")]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 2 and "no cascades file" in result.output


def test_training_refits_the_reader_or_removes_a_stale_one(tmp_path: Path) -> None:
    from sentinel.nlp.commands import refresh_reader
    from sentinel.nlp.reactions import LABELLED_REACTIONS

    model = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model, ignore=shutil.ignore_patterns(FILENAME, "rumour.json"))
    # the shipped recipe's first 3,000 rows and 600 beyond them (all 35,511 took 80 s to fit),
    # without the cascades file: the reader is fitted without crowds
    labelled = tmp_path / "labelled.jsonl"
    lines = LABELLED_REACTIONS.read_text(encoding="utf-8").split("\n")
    labelled.write_text("\n".join(lines[:3600]) + "\n", encoding="utf-8")
    said = refresh_reader(model, labelled, 3000, tmp_path / "no-cascades.jsonl.gz")
    assert said.startswith("reaction reader:")
    assert json.loads(said.split(":", 1)[1])["crowd"] is False
    body = json.loads((model / FILENAME).read_text(encoding="utf-8"))
    assert body["coef"]["crowd_mean"] == body["coef"]["crowd_size"] == 0.0
    # a model that read every labelled reaction leaves none to fit on: the old reader goes
    assert "removed" in refresh_reader(model, labelled, None)
    assert not (model / FILENAME).exists()
    assert refresh_reader(model, None, 0).startswith("no reaction reader")


def test_classify_adds_the_reaction_reading_where_the_post_is_known() -> None:
    posts = [
        {"platform": "weibo", "id": "1", "text": SCANDAL},
        {"platform": "weibo", "id": "r1", "text": "[哈哈]", "repost_of": "1"},
        {"platform": "weibo", "id": "r2", "text": "[哈哈]", "context": CHEER},
        {"platform": "weibo", "id": "r3", "text": "[哈哈]"},
    ]
    out, _ = _run("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts))
    assert "as_reaction" not in out[0]["sentiment"] and "as_reaction" not in out[3]["sentiment"]
    assert out[1]["sentiment"]["as_reaction"] > out[2]["sentiment"]["as_reaction"]
    assert out[1]["sentiment"]["negative"] == out[3]["sentiment"]["negative"]  # the model's own reading stays


def test_classify_reads_a_reaction_after_the_earlier_reactions_to_its_post() -> None:
    def laugh_after(crowd: list[str]) -> float:
        posts = [{"platform": "weibo", "id": "1", "text": SCANDAL}]
        posts += [
            {"platform": "weibo", "id": f"c{i}", "text": t, "repost_of": "1"} for i, t in enumerate(crowd)
        ]
        # the same words under another post: its crowd is that post's own, not this one's
        posts += [{"platform": "weibo", "id": "x", "text": "呵呵", "context": SCANDAL}]
        posts += [{"platform": "weibo", "id": "last", "text": "呵呵", "repost_of": "1"}]
        out, _ = _run("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts))
        # (a batch of other sizes moves the int8 model's readings in the 5th decimal)
        assert out[-2]["sentiment"]["as_reaction"] == pytest.approx(first, abs=1e-3)  # no crowd before it
        return float(out[-1]["sentiment"]["as_reaction"])

    alone, _ = _run(json.dumps({"text": "呵呵", "context": SCANDAL}, ensure_ascii=False) + "\n")
    first = alone[0]["sentiment"]["as_reaction"]
    angry = ["太恶心了，这种人就该抓起来", "无耻之极[怒]", "垃圾企业，再也不买了"] * 5
    cheerful = ["哈哈哈太可爱了", "支持支持[爱你]", "好棒啊，恭喜"] * 5
    assert laugh_after(angry) > laugh_after(cheerful) + 0.1
    # bare reposts are no crowd: the laugh reads as it does first
    assert laugh_after(["转发微博"] * 15) == pytest.approx(first, abs=1e-3)


def test_a_broken_reader_file_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model, ignore=shutil.ignore_patterns(FILENAME, "rumour.json"))
    (model / FILENAME).write_text("{", encoding="utf-8")
    result = CliRunner().invoke(_app(), ["classify", "--model", str(model)], input='{"text": "x"}\n')
    assert result.exit_code == 2
    assert "cannot read the reaction reader" in result.output


def test_the_crowd_is_summed_up_from_its_last_reactions() -> None:
    assert crowd_features([]) == (0.0, 0.5, 0.0)
    mean, negative, size = crowd_features([0.5, 0.5, 0.9, 0.1])
    assert mean == pytest.approx(0.0) and negative == 0.75 and size == 4 / CROWD
    # only the last CROWD count
    assert crowd_features([0.01] * 50 + [0.99] * CROWD)[1] == 1.0


def test_crowds_keep_worded_reactions_of_the_most_recent_posts() -> None:
    crowds = Crowds(posts=2)
    crowds.add("a", "转发微博", 0.9)  # a bare repost says nothing: not part of the crowd
    crowds.add("a", "恶心", 0.9)
    crowds.add("a", "好好笑[哈哈]", 0.2)
    assert list(crowds.of("a")) == [0.9, 0.2]
    for i in range(CROWD + 5):
        crowds.add("b", f"第{i}条", 0.6)
    assert len(crowds.of("b")) == CROWD
    crowds.add("c", "呵呵", 0.7)  # a third post: the one reacted to longest ago is forgotten
    assert list(crowds.of("a")) == [] and list(crowds.of("c")) == [0.7]


def _cascades(path: Path, cascades: dict[str, list[str]]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for event, texts in cascades.items():
            reposts = [[10 * i, f"u{i}", t] for i, t in enumerate(texts)]
            fh.write(json.dumps({"event": event, "original": {"text": "原博"}, "reposts": reposts}) + "\n")
    return path


def test_crowds_of_labelled_rows_are_the_worded_reactions_before_them(tmp_path: Path) -> None:
    path = _cascades(
        tmp_path / "c.jsonl.gz", {"e1": ["太恶心", "转发微博", "呵呵", "太恶心", "[怒]"], "e2": ["好"]}
    )
    rows = [
        {"event": "e1", "text": "呵呵"},
        {"event": "e1", "text": "太恶心"},  # its first time in the cascade
        {"event": "e1", "text": "[怒]"},
        {"event": "e2", "text": "好"},
        {"event": "e3", "text": "好"},  # a cascade the file does not have
        {"event": "e1", "text": "不在里面"},
    ]
    assert crowds_of(rows, path) == [["太恶心"], [], ["太恶心", "呵呵", "太恶心"], [], [], []]


def test_a_reader_fitted_with_crowds_weighs_them(tmp_path: Path) -> None:
    # toy reactions whose label only their crowd gives away: "呵呵" is negative after anger
    rows, cascades = [], {}
    for i in range(300):
        angry = i % 2 == 0
        crowd = ["太恶心了", "垃圾", "无耻"] if angry else ["哈哈哈好可爱", "支持", "好棒"]
        cascades[f"e{i}"] = [*crowd, "呵呵"]
        rows.append(
            {
                "event": f"e{i}",
                "text": "呵呵",
                "context": "原博",
                "label": "negative" if angry else "positive",
            }
        )
    path = _cascades(tmp_path / "c.jsonl.gz", cascades)
    clf = LexiconClassifier()
    crowds = crowds_of(rows, path)
    reader, report = fit_reaction_reader(clf, rows, skip=100, crowds=crowds)
    assert report["crowd"] is True and report["cv_accuracy"] > 0.95
    alone, _ = fit_reaction_reader(clf, rows, skip=100)
    assert alone.coef[3:] == (0.0, 0.0, 0.0)
    reader.save(tmp_path / FILENAME)
    again = ReactionReader.load(tmp_path / FILENAME)
    after_anger, after_cheer = again.read(clf, ["呵呵", "呵呵"], ["原博", "原博"], [crowds[0], crowds[1]])
    assert after_anger > 0.5 > after_cheer


def test_a_reader_file_without_crowd_weights_still_loads(tmp_path: Path) -> None:
    body = json.loads((MODEL_DIR / FILENAME).read_text(encoding="utf-8"))
    for key in ("crowd_mean", "crowd_negative", "crowd_size"):
        del body["coef"][key]
    (tmp_path / FILENAME).write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    old = ReactionReader.load(tmp_path / FILENAME)
    assert old.coef[3:] == (0.0, 0.0, 0.0)
    assert old.negative("呵呵", own=0.5, neutral=0.5, context=0.9, crowd=[0.99] * 10) == pytest.approx(
        old.negative("呵呵", own=0.5, neutral=0.5, context=0.9)
    )


def test_the_shipped_reader_reads_a_laugh_after_an_angry_crowd_as_mockery(
    shipped: TransformerClassifier,
) -> None:
    reader = ReactionReader.beside(MODEL_DIR)
    assert reader is not None
    angry = ["太恶心了，这种人就该抓起来", "无耻之极[怒]", "垃圾企业，再也不买了"]
    cheerful = ["哈哈哈太可爱了", "支持支持[爱你]", "好棒啊，恭喜"]
    after_anger, after_cheer = reader.read(shipped, ["呵呵"] * 2, [SCANDAL] * 2, [angry * 10, cheerful * 10])
    assert after_anger > after_cheer + 0.1, (after_anger, after_cheer)
