"""The reaction reader (sentinel.nlp.reaction_reader): a reaction's words read with the post
they answer, fitted on hand-labelled reactions the model did not train on.

Needs only tests/data and the shipped model, never ../shared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sentinel.nlp.lexicon import LexiconClassifier
from sentinel.nlp.reaction_reader import FILENAME, ReactionReader, fit_reaction_reader
from sentinel.nlp.transformer import TransformerClassifier

from .conftest import MODEL_DIR
from .test_classify_cli import _app, _run

DATA = Path(__file__).resolve().parents[1] / "data"
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

    # measured 0.826 against the model's 0.776 (docs/model.md, *Reactions read in context*)
    assert accuracy(read) > accuracy(alone) + 0.03, (accuracy(read), accuracy(alone))


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


def test_train_reactions_reproduces_the_shipped_reader(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model, ignore=shutil.ignore_patterns(FILENAME, "rumour.json"))
    result = CliRunner().invoke(_app(), ["train-reactions", "--model", str(model)])
    assert result.exit_code == 0, result.output
    # the skip comes from the model's training report (labelled_limit 3000)
    assert json.loads(result.stdout.splitlines()[0])["skipped"] == 3000
    assert (model / FILENAME).read_bytes() == (MODEL_DIR / FILENAME).read_bytes()


def test_training_refits_the_reader_or_removes_a_stale_one(tmp_path: Path) -> None:
    from sentinel.nlp.commands import refresh_reader
    from sentinel.nlp.reactions import LABELLED_REACTIONS

    model = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model, ignore=shutil.ignore_patterns(FILENAME, "rumour.json"))
    said = refresh_reader(model, LABELLED_REACTIONS, 3000)  # the shipped recipe
    assert said.startswith("reaction reader:")
    assert (model / FILENAME).read_bytes() == (MODEL_DIR / FILENAME).read_bytes()
    # a model that read every labelled reaction leaves none to fit on: the old reader goes
    assert "removed" in refresh_reader(model, LABELLED_REACTIONS, None)
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


def test_a_broken_reader_file_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model, ignore=shutil.ignore_patterns(FILENAME, "rumour.json"))
    (model / FILENAME).write_text("{", encoding="utf-8")
    result = CliRunner().invoke(_app(), ["classify", "--model", str(model)], input='{"text": "x"}\n')
    assert result.exit_code == 2
    assert "cannot read the reaction reader" in result.output
