"""Text normalisation and the character tokenizer of the bundled model.

Chinese has no word boundaries, so the default model reads characters; word-like units
come back inside the model as hashed character bigrams and trigrams. The vocabulary is
built from the training data and saved as a standard ``tokenizer.json`` (the ``tokenizers``
library), so any Hugging Face tool can read it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel

from sentinel.nfkc import nfkc

__all__ = [
    "EMOTICON_RE",
    "SPECIAL_TOKENS",
    "CharTokenizer",
    "normalize",
    "strip_emoticons",
]

PAD, UNK, CLS, MASK = "[PAD]", "[UNK]", "[CLS]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, MASK)

# Weibo renders emoticons as bracketed names: [哈哈], [怒], [good]. The sentiment labels of the
# Weibo corpus come from these, so the model must also learn to do without them.
EMOTICON_RE = re.compile(r"\[[^\[\]\s]{1,8}\]")
_SPACES = re.compile(r"\s+")
# Unicode White_Space: what the tokenizer's ``WhitespaceSplit`` drops (Python's isspace()
# also counts U+001C..U+001F, which the tokenizer keeps as characters)
_WHITE_SPACE_POINTS = np.array(
    [*map(ord, "\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"), *range(0x2000, 0x200B)],
    dtype=np.uint32,
)


def strip_emoticons(text: str) -> str:
    """Remove ``[…]`` emoticon tokens (and the spaces they leave)."""
    return _SPACES.sub(" ", EMOTICON_RE.sub("", text)).strip()


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, collapsed white space.

    Must match the normaliser inside ``tokenizer.json``; it is used when building the
    vocabulary and for n-gram seed-term matching.
    """
    return " ".join(nfkc(text).lower().split())  # str.split() and re's \s: the same white space


def _emoticons_of(vocab: dict[str, int]) -> list[str]:
    """The vocabulary's emoticon tokens (``[哈哈]``: one id for the whole bracketed name)."""
    return [t for t in vocab if len(t) > 1 and t not in SPECIAL_TOKENS and EMOTICON_RE.fullmatch(t)]


def _literal(token: str) -> str:
    """``token`` as a regular expression that both Python's ``re`` and Oniguruma (the
    ``tokenizers`` library) read as the literal text: ASCII punctuation escaped."""
    return "".join("\\" + c if c.isascii() and not c.isalnum() else c for c in token)


def _alternatives(tokens: Iterable[str]) -> str:
    """A regular expression (for ``re`` and Oniguruma alike) matching any of ``tokens``."""
    return "|".join(_literal(t) for t in sorted(tokens))


class CharTokenizer:
    """Characters to ids, with ``[CLS]`` first; backed by a ``tokenizers.Tokenizer``.

    A vocabulary may also hold Weibo emoticons (``[哈哈]``, ``[怒]``): each known one is read
    as a single id (an unknown ``[…]`` stays characters). They take the last ids of the
    vocabulary, so a model can find them by range (``SentinelConfig.emoticons``).
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tok = tokenizer
        self.vocab: dict[str, int] = tokenizer.get_vocab()
        self.pad_id = self.vocab[PAD]
        self.unk_id = self.vocab[UNK]
        self.cls_id = self.vocab[CLS]
        self.mask_id = self.vocab[MASK]
        # ids by code point for the vectorised lookup in ``_flat_ids``: a dense table for the
        # Basic Multilingual Plane (white space -> -1, dropped), a sorted list above it (emoji)
        self._bmp = np.full(0x10000, self.unk_id, dtype=np.int32)
        astral: list[tuple[int, int]] = []
        for token, i in self.vocab.items():
            if len(token) == 1:
                if ord(token) < 0x10000:
                    self._bmp[ord(token)] = i
                else:
                    astral.append((ord(token), i))
        self._bmp[_WHITE_SPACE_POINTS] = -1
        astral.sort()
        self._astral_points = np.array([c for c, _ in astral], dtype=np.uint32)
        self._astral_ids = np.array([i for _, i in astral], dtype=np.int32)
        self.emoticons = {t: self.vocab[t] for t in _emoticons_of(self.vocab)}
        self._emoticon_re = re.compile(_alternatives(self.emoticons)) if self.emoticons else None

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def ids_of(self, chars: str) -> list[int]:
        """The ids of those of ``chars`` that the vocabulary holds, in order."""
        return [self.vocab[c] for c in chars if c in self.vocab]

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        *,
        min_count: int = 2,
        max_size: int = 8000,
        emoticon_min_count: int = 0,
        max_emoticons: int = 1000,
    ) -> CharTokenizer:
        """Characters seen ``min_count`` times; with ``emoticon_min_count`` > 0 also the
        ``[…]`` emoticons found in that many texts, as single tokens after the characters."""
        counts: Counter[str] = Counter()
        emoticons: Counter[str] = Counter()
        for text in texts:
            norm = normalize(text)
            counts.update(norm.replace(" ", ""))
            if emoticon_min_count > 0 and "[" in norm:
                emoticons.update(set(EMOTICON_RE.findall(norm)) - set(SPECIAL_TOKENS))
        chars = [c for c, n in counts.most_common(max_size) if n >= min_count]
        vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
        for c in sorted(chars):  # sorted: the same data always gives the same ids
            vocab.setdefault(c, len(vocab))
        if emoticon_min_count > 0:
            kept = [e for e, n in emoticons.most_common(max_emoticons) if n >= emoticon_min_count]
            for e in sorted(kept):
                vocab.setdefault(e, len(vocab))
        return cls(_make_tokenizer(vocab))

    @classmethod
    def load(cls, directory: str | Path) -> CharTokenizer:
        return cls(Tokenizer.from_file(str(Path(directory) / "tokenizer.json")))

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._tok.save(str(directory / "tokenizer.json"))
        # Lets ``AutoTokenizer.from_pretrained(directory)`` work as well.
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "pad_token": PAD,
            "unk_token": UNK,
            "cls_token": CLS,
            "mask_token": MASK,
            "model_max_length": 512,
        }
        (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")

    def encode(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        """Ids per text, ``[CLS]`` first, truncated to ``max_length`` ids in all."""
        flat, starts, counts = self._flat_ids(texts, max_length)
        cls = self.cls_id
        return [
            [cls, *flat[a : a + n].tolist()] for a, n in zip(starts.tolist(), counts.tolist(), strict=True)
        ]

    def encode_batch(self, texts: Sequence[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
        """``pad(encode(texts, max_length))`` without the lists between: (input_ids,
        attention_mask) as int64 arrays, right-padded to the longest text."""
        flat, starts, counts = self._flat_ids(texts, max_length)
        n = len(counts)
        width = 1 + (int(counts.max()) if n else 0)
        ids = np.full((n, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.int64)
        ids[:, 0] = self.cls_id
        mask[:, 0] = 1
        rows = np.repeat(np.arange(n), counts)
        # position of each kept character within its own text
        cols = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
        ids[rows, cols + 1] = flat[np.repeat(starts, counts) + cols]
        mask[rows, cols + 1] = 1
        return ids, mask

    def _flat_ids(self, texts: Sequence[str], max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ids of every text's characters, concatenated; where each text starts in them;
        how many of them each text keeps (at most ``max_length - 1``, room for ``[CLS]``).

        What ``tokenizer.json`` does (NFKC, lower case, white space dropped, one id per
        character), with numpy over the whole batch: ~10x faster than the ``tokenizers``
        library for short posts (it was 12 % of the classifier's time). The two agree on
        every text of the shared corpora; they differ only on the few code points whose NFKC
        mapping is newer than the library's Unicode tables (e.g. U+32FF, U+1FBF0-9), where
        this agrees with :func:`normalize`, which built the vocabulary.
        """
        folded = [nfkc(text).lower() for text in texts]
        lengths = np.fromiter(map(len, folded), dtype=np.int64, count=len(folded))
        # "surrogatepass": a lone surrogate (from a lenient JSON decoder) is a character too
        points = np.frombuffer("".join(folded).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        ids = self._bmp[np.minimum(points, 0xFFFF)]
        astral = points > 0xFFFF
        if astral.any():
            ids[astral] = self._astral(points[astral])
        if self._emoticon_re is not None:
            self._mark_emoticons(folded, lengths, ids)
        keep = ids >= 0
        kept_before = np.concatenate(([0], np.cumsum(keep)))
        ends = np.cumsum(lengths)
        starts = kept_before[ends - lengths]
        counts = np.minimum(kept_before[ends] - starts, max(0, max_length - 1))
        return ids[keep], starts, counts

    def _mark_emoticons(self, folded: Sequence[str], lengths: np.ndarray, ids: np.ndarray) -> None:
        """A known emoticon's id on its ``[``; its other characters dropped (-1), in place.
        (Emoticons hold no white space, so none spans two of the tokenizer's words.)"""
        assert self._emoticon_re is not None
        offsets = np.cumsum(lengths) - lengths
        for text, offset in zip(folded, offsets.tolist(), strict=True):
            if "[" not in text:
                continue
            for m in self._emoticon_re.finditer(text):
                start, end = offset + m.start(), offset + m.end()
                ids[start] = self.emoticons[m.group()]
                ids[start + 1 : end] = -1

    def _astral(self, points: np.ndarray) -> np.ndarray:
        if not len(self._astral_points):
            return np.full(len(points), self.unk_id, dtype=np.int32)
        where = np.minimum(np.searchsorted(self._astral_points, points), len(self._astral_points) - 1)
        return np.where(self._astral_points[where] == points, self._astral_ids[where], self.unk_id)

    def pad(self, ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Right-pad to the longest row: (input_ids, attention_mask) as int64 arrays."""
        width = max((len(row) for row in ids), default=1)
        out = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            out[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return out, mask


def _make_tokenizer(vocab: dict[str, int]) -> Tokenizer:
    tok = Tokenizer(WordLevel(vocab, unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    # Drop white space, then split what is left into the known emoticons and single characters.
    emoticons = _emoticons_of(vocab)
    pieces = f"{_alternatives(emoticons)}|." if emoticons else "."
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(pieces), behavior="isolated"),
        ]
    )
    return tok
