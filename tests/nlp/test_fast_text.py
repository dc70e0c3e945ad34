"""The Python fast paths of the classifier's text handling agree with the slow references:
``CharTokenizer.encode`` with the ``tokenizers`` library's ``tokenizer.json``, and
``Taxonomy.match`` with testing every seed against the text."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from sentinel.nlp.taxonomy import Taxonomy, Topic, load_taxonomy
from sentinel.nlp.text import CharTokenizer, normalize

REPO = Path(__file__).resolve().parents[2]
# code points whose NFKC mapping is newer than the tokenizers library's Unicode tables: there
# the Python path follows Python's unicodedata, as `normalize` (which built the vocabulary) does
NEWER_NFKC = {0x32FF, 0xA7F2, 0xA7F3, 0xA7F4, 0x107A5, 0x1F16C, *range(0x1FBF0, 0x1FBFA)}


def _texts() -> list[str]:
    out: list[str] = []
    for name in ("topics_eval.jsonl", "dup_pairs.jsonl"):
        for line in (REPO / "tests" / "data" / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            out += [row[k] for k in ("text", "a", "b") if k in row]
    return out


@pytest.fixture(scope="module")
def tok() -> CharTokenizer:
    return CharTokenizer.load(REPO / "models" / "default")


def _reference(tok: CharTokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    encodings = tok._tok.encode_batch(texts, add_special_tokens=False)
    return [[tok.cls_id, *enc.ids[: max_length - 1]] for enc in encodings]


def test_encode_matches_the_tokenizer_json_on_posts(tok: CharTokenizer) -> None:
    texts = _texts()
    assert len(texts) > 300
    assert tok.encode(texts, 128) == _reference(tok, texts, 128)
    assert tok.encode(texts, 16) == _reference(tok, texts, 16)  # truncation


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Ａｂｃ　全角　ＡＢＣ１２３",  # NFKC, lower case, ideographic space dropped
        "tab\there\nnew\r\nline\x0b\x0c\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000end",
        "\x1c\x1d\x1e\x1f",  # not White_Space: kept as (unknown) characters
        "\u200b\u200d\ufeff",  # zero-width: not white space either
        "ΣΑΣ σας",
        "İstanbul ǅ ß ﬁ ẞ",  # multi-character lower case and compatibility forms
        "[怒][哈哈]😡👍🏻",
        "x" * 5000,
    ],
)
def test_encode_matches_on_edge_cases(tok: CharTokenizer, text: str) -> None:
    assert tok.encode([text], 64) == _reference(tok, [text], 64)


def test_encode_matches_on_random_unicode(tok: CharTokenizer) -> None:
    rng = random.Random(11)
    pool = [
        chr(c)
        for c in range(1, 0x30000)
        if not 0xD800 <= c < 0xE000 and c not in NEWER_NFKC
    ]
    texts = ["".join(rng.choice(pool) for _ in range(rng.randrange(0, 150))) for _ in range(2000)]
    assert tok.encode(texts, 128) == _reference(tok, texts, 128)


def _brute(tax: Taxonomy, text: str) -> dict[str, list[str]]:
    norm = normalize(text)
    found: dict[str, list[str]] = {}
    for topic in tax.topics:
        hits = [s for s in topic.seeds if s in norm]
        if hits:
            found[topic.id] = hits
    return found


def test_match_equals_testing_every_seed() -> None:
    tax = load_taxonomy(REPO / "config" / "taxonomy.yaml")
    texts = _texts()
    seeds = [s for t in tax.topics for s in t.seeds]
    rng = random.Random(5)
    # texts stitched from seeds, halves of seeds and filler: overlaps, repeats, near misses
    for _ in range(3000):
        parts = []
        for _ in range(rng.randrange(1, 6)):
            s = rng.choice(seeds)
            parts.append(rng.choice([s, s[: max(1, len(s) // 2)], s.upper(), "的", " "]))
        texts.append("".join(parts))
    assert sum(bool(_brute(tax, t)) for t in texts) > 1000
    for text in texts:
        assert tax.match(text) == _brute(tax, text), text


def test_match_finds_overlapping_seeds_of_different_topics() -> None:
    def topic(tid: str, *seeds: str) -> Topic:
        return Topic(tid, tid, tid, "", seeds, 0.5)

    tax = Taxonomy((topic("a", "退款", "退款难"), topic("b", "款难", "难"), topic("c", "退")))
    assert tax.match("申请退款难") == {"a": ["退款", "退款难"], "b": ["款难", "难"], "c": ["退"]}
    assert tax.match("没有问题") == {}


@pytest.mark.parametrize("max_length", [1, 2, 16, 128])
def test_encode_batch_is_pad_of_encode(tok: CharTokenizer, max_length: int) -> None:
    rng = random.Random(max_length)
    pool = [*"质量太差了再也不买好用物流快 \u3000\t，！…ＡＢ", "\U0001f600", "\ud800"]
    texts = ["", "   ", *_texts()[:200]]
    texts += ["".join(rng.choice(pool) for _ in range(rng.randrange(0, 200))) for _ in range(300)]
    ids, mask = tok.encode_batch(texts, max_length)
    want_ids, want_mask = tok.pad(tok.encode(texts, max_length))
    assert ids.tolist() == want_ids.tolist()
    assert mask.tolist() == want_mask.tolist()
    assert ids.shape[1] <= max(1, max_length)
    empty_ids, empty_mask = tok.encode_batch([], max_length)
    assert empty_ids.shape == (0, 1) and empty_mask.shape == (0, 1)


def test_encode_with_characters_beyond_the_basic_plane_in_the_vocabulary() -> None:
    built = CharTokenizer.build(["好评😀👍", "差评😡 𠀀字", "\u3000全角　空格"], min_count=1)
    assert len(built._astral_points) == 4  # 😀 👍 😡 𠀀
    texts = ["😀好评👍", "😡😡 差评", "𠀀𠀁", "🙂 unknown", "", "全角\u3000空格"]
    assert built.encode(texts, 64) == _reference(built, texts, 64)
    assert built.encode(["😀😀😀"], 3) == [[built.cls_id, built.vocab["😀"], built.vocab["😀"]]]


def test_emoticons_are_single_tokens_as_in_the_tokenizer_json(tmp_path: Path) -> None:
    """A vocabulary with Weibo emoticons: known ``[…]`` names are one id each (after NFKC and
    lower case: ``［哈哈］``, ``[GOOD]``), unknown ones and broken brackets stay characters --
    the numpy path and the ``tokenizers`` library agree on all of it."""
    corpus = ["好[哈哈]评[怒]", "[哈哈]差[good]", "[怒][good] x", "[*^_^*]a", "[*^_^*]", "[一次]"]
    built = CharTokenizer.build(corpus, min_count=1, emoticon_min_count=2)
    assert sorted(built.emoticons) == ["[*^_^*]", "[good]", "[哈哈]", "[怒]"]
    # the emoticons take the last ids, after every character
    assert min(built.emoticons.values()) == built.vocab_size - len(built.emoticons)
    assert built.encode(["[哈哈][一次]"], 64) == [
        [built.cls_id, built.vocab["[哈哈]"], *(built.vocab.get(c, built.unk_id) for c in "[一次]")]
    ]
    fixed = ["［哈哈］[GOOD] [怒", "[怒 ]", "[[怒]]", "[*^_^*][x]", "[哈哈]" * 50, "", "[unk][UNK]"]
    rng = random.Random(3)
    pool = ["[哈哈]", "[怒]", "[good]", "[*^_^*]", "[", "]", "哈", "好", " ", "\u3000", "Ｇ", "ood]"]
    texts = fixed + ["".join(rng.choice(pool) for _ in range(rng.randrange(0, 40))) for _ in range(500)]
    for max_length in (3, 16, 128):
        assert built.encode(texts, max_length) == _reference(built, texts, max_length)
        ids, mask = built.encode_batch(texts, max_length)
        want_ids, want_mask = built.pad(built.encode(texts, max_length))
        assert ids.tolist() == want_ids.tolist() and mask.tolist() == want_mask.tolist()
    # saved and loaded: the same tokens
    built.save(tmp_path)
    loaded = CharTokenizer.load(tmp_path)
    assert loaded.emoticons == built.emoticons
    assert loaded.encode(texts, 64) == built.encode(texts, 64)
    # without emoticon_min_count the brackets are characters, as before
    plain = CharTokenizer.build(corpus, min_count=1)
    assert plain.emoticons == {} and plain.encode(["[怒]"], 8)[0][1:] == [plain.vocab[c] for c in "[怒]"]
