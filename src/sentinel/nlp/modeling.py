"""The bundled model: a small character BERT with n-gram embeddings and a linear n-gram head.

Why this shape (measured, see docs/model.md): a plain character BERT small enough for 2,000
posts/s on 2 cores loses to TF-IDF + logistic regression, because Chinese sentiment lives in
words and a few layers of attention over single characters barely learn them from 70k reviews.
So the model gets words back cheaply:

* each position embeds its character plus hashed bigram and trigram ending there (factorised
  tables: a small ``ngram_dim`` projected up to the hidden size, to stay within 25 MB);
* a linear head over hashed 1-3-grams, IDF-weighted and L2-normalised (the TF-IDF +
  logistic regression baseline living in the same model, one weight per bucket and label),
  is added to the encoder's logits, so the encoder only has to learn what the bag of n-grams
  gets wrong (negation, contrast, context);
* with ``emoticons`` > 0, the last ids of the vocabulary are Weibo emoticons (``[哈哈]``, one
  token each) and a bag of the *distinct* emoticons in a post adds one weight per emoticon
  and output: Weibo's own sentiment signal, counted once however often it is repeated.

The encoder reads the first ``max_chars`` - 1 characters; the two bags read up to
``bag_chars`` - 1 (``bag_ids`` in :meth:`SentinelModel.forward`): a review's verdict is often
at its end ("总之不推荐"), and a bag costs almost nothing per character.

Two outputs: ``sentiment_logits`` (one logit, sigmoid = P(negative)) and ``topic_logits``
(one per crisis topic, independent sigmoids); with ``neutral_head`` a third,
``neutral_logits`` (sigmoid = P(neutral): the text says nothing for or against), a logistic
regression over the same n-gram bag fitted on hand-labelled reactions (docs/model.md,
*Neutral as a class*).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import BertConfig, BertModel, PreTrainedModel
from transformers.utils import ModelOutput

__all__ = [
    "BAG_CHARS",
    "SentinelConfig",
    "SentinelModel",
    "SentinelOutput",
    "bag_buckets",
    "hash_ngrams",
    "negation_scope",
]

BAG_CHARS = 1024  # ids (with [CLS]) the n-gram and emoticon bags read by default

# Large odd multipliers for polynomial hashing of id pairs/triples into buckets.
_P1, _P2, _P3 = 1_000_003, 998_244_353, 2_654_435_761
_PAIR = 1 << 20  # an id pair as one number: first * _PAIR + second (ids stay below 2**20)
_P4, _NEGATED = 40_503, 7_919  # a negated n-gram's bucket: (bucket * _P4 + _NEGATED) % buckets


def hash_ngrams(input_ids: torch.Tensor, buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bucket ids of the bigram and trigram *ending* at each position, shape (B, T) each.

    The first position (``[CLS]``) pairs with itself, harmless since it never forms a real
    n-gram. Ids stay far below 2**20, so the products fit in int64.
    """
    prev = torch.cat([input_ids[:, :1], input_ids[:, :-1]], dim=1)
    prev2 = torch.cat([prev[:, :1], prev[:, :-1]], dim=1)
    bigram = (prev * _P1 + input_ids) % buckets
    trigram = ((prev2 * _P2 + prev * _P1) % _P3 + input_ids * 7 + 1) % buckets
    return bigram, trigram


def negation_scope(
    input_ids: torch.Tensor,
    negators: torch.Tensor,
    breaks: torch.Tensor,
    scope: int,
    words: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, T) bool: the ids within ``scope`` positions after a negator (不, 没, 无, 未, 别) with no
    punctuation between; neither a negator nor punctuation is itself in scope. ``words``: id
    pairs coded ``first * 2**20 + second`` in which a negator does not negate (不料, 不过, 别人,
    特别, 未来 ...): there it opens no scope."""
    is_neg = torch.isin(input_ids, negators)
    if words is not None and words.numel():
        following = torch.cat([input_ids[:, 1:], torch.zeros_like(input_ids[:, :1])], dim=1)
        preceding = torch.cat([torch.zeros_like(input_ids[:, :1]), input_ids[:, :-1]], dim=1)
        in_word = torch.isin(input_ids * _PAIR + following, words) | torch.isin(
            preceding * _PAIR + input_ids, words
        )
        is_neg = is_neg & ~in_word
    is_break = torch.isin(input_ids, breaks)
    pos = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    last_neg = torch.where(is_neg, pos, -1).cummax(1).values
    last_break = torch.where(is_break, pos, -1).cummax(1).values
    return (last_neg >= 0) & (pos - last_neg <= scope) & (last_break < last_neg) & ~is_neg & ~is_break


def bag_buckets(input_ids: torch.Tensor, config: Any) -> torch.Tensor:
    """The n-gram bag's bucket ids of a ``SentinelConfig``, (B, T, 3): the unigram, bigram and
    trigram ending at each position. With ``negation_scope`` (docs/model.md, *Negation*), an
    n-gram ending inside a negator's scope goes to a bucket of its own, so that "不难吃" does
    not count the evidence of "难吃"; its weight is learnt from text that negates
    (tests/data/negation_train.jsonl)."""
    buckets = config.linear_buckets
    bigram, trigram = hash_ngrams(input_ids, buckets)
    # Offset the three n-gram orders so that unigram ids and hashes rarely share a bucket.
    grams = torch.stack([input_ids % buckets, (bigram + 1) % buckets, (trigram + 2) % buckets], -1)
    scope = getattr(config, "negation_scope", 0)
    if scope > 0:
        negators = torch.tensor(config.negator_ids, dtype=input_ids.dtype, device=input_ids.device)
        breaks = torch.tensor(config.break_ids, dtype=input_ids.dtype, device=input_ids.device)
        words = torch.tensor(
            [a * _PAIR + b for a, b in getattr(config, "not_negations", [])],
            dtype=input_ids.dtype,
            device=input_ids.device,
        )
        scoped = negation_scope(input_ids, negators, breaks, scope, words).unsqueeze(-1)
        grams = torch.where(scoped, (grams * _P4 + _NEGATED) % buckets, grams)
    return grams


class SentinelConfig(BertConfig):
    model_type = "sentinel"

    def __init__(
        self,
        ngram_buckets: int = 40_000,
        ngram_dim: int = 48,
        linear_buckets: int = 1 << 18,
        topic_labels: list[str] | None = None,
        max_chars: int = 128,
        stride: int = 3,
        linear_idf: bool = True,
        emoticons: int = 0,
        bag_chars: int = BAG_CHARS,
        neutral_head: bool = False,
        negation_scope: int = 0,
        negator_ids: list[int] | None = None,
        break_ids: list[int] | None = None,
        not_negations: list[list[int]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.stride = stride
        self.emoticons = emoticons  # the last `emoticons` ids of the vocabulary
        # always True: the un-weighted n-gram bag of the earlier recipe went with issue 20;
        # kept in config.json so that a model trained with it is refused, not misread
        self.linear_idf = linear_idf
        self.ngram_buckets = ngram_buckets
        self.ngram_dim = ngram_dim
        self.linear_buckets = linear_buckets
        self.topic_labels = list(topic_labels or [])
        self.max_chars = max_chars
        # characters (ids, with [CLS]) the n-gram and emoticon bags read at inference; 1024 is
        # also what a model whose config.json predates the key gets (docs/model.md, "Long texts")
        self.bag_chars = bag_chars
        self.neutral_head = neutral_head  # P(neutral) from the n-gram bag (``neutral_logits``)
        # n-grams up to this many ids after a negator id, with no break id (punctuation)
        # between, are hashed apart (``bag_buckets``); 0, as for a model from before, is off
        self.negation_scope = negation_scope
        self.negator_ids = list(negator_ids or [])
        self.break_ids = list(break_ids or [])
        self.not_negations = [list(pair) for pair in not_negations or []]  # id pairs: 不料, 特别 ...


@dataclass
class SentinelOutput(ModelOutput):
    sentiment_logits: torch.Tensor | None = None
    topic_logits: torch.Tensor | None = None
    neutral_logits: torch.Tensor | None = None


class SentinelModel(PreTrainedModel):
    config_class = SentinelConfig
    base_model_prefix = "sentinel"
    _supports_sdpa = True
    _supports_attention_backend = True
    idf: torch.Tensor  # buffer: one inverse document frequency per linear-head bucket

    def __init__(self, config: SentinelConfig) -> None:
        if not config.linear_idf:
            raise ValueError(
                "this model was trained with the earlier un-weighted n-gram head (linear_idf = false), "
                "which sentinel no longer runs: retrain it with `sentinel train`"
            )
        super().__init__(config)
        h = config.hidden_size
        n_out = 1 + len(config.topic_labels)
        self.bert = BertModel(config, add_pooling_layer=False)
        # The hashed tables are large and each batch touches a few rows: sparse gradients
        # (with SparseAdam in training) skip zeroing and updating the untouched millions.
        self.bigram = nn.Embedding(config.ngram_buckets, config.ngram_dim, sparse=True)
        self.trigram = nn.Embedding(config.ngram_buckets, config.ngram_dim, sparse=True)
        self.ngram_proj = nn.Linear(config.ngram_dim, h, bias=False)
        # Funnel-style downsampling: `stride` neighbouring characters (each already carrying
        # its bigram and trigram) merge into one encoder position, dividing attention and
        # feed-forward cost by `stride` -- the main lever for 2,000 posts/s on 2 cores.
        self.merge = nn.Linear(config.stride * h, h) if config.stride > 1 else None
        self.head = nn.Sequential(nn.Linear(2 * h, h), nn.GELU(), nn.Dropout(config.hidden_dropout_prob))
        self.out = nn.Linear(h, n_out)
        self.linear = nn.Embedding(config.linear_buckets, n_out, sparse=True)
        self.linear_bias = nn.Parameter(torch.zeros(n_out))
        # The n-gram bag is weighted like TF-IDF (one inverse document frequency per bucket,
        # 0 for buckets seen in fewer than two training texts) and L2-normalised: the head is
        # then the TF-IDF + logistic regression baseline itself.
        self.register_buffer("idf", torch.ones(config.linear_buckets))
        # Bag of distinct emoticons: a plain parameter, not an nn.Linear, so that int8
        # quantisation leaves it alone; zero at first ("no evidence"), like the linear head.
        self.emoticon = nn.Parameter(torch.zeros(config.emoticons, n_out)) if config.emoticons else None
        # P(neutral): one weight per bucket of the same bag, fitted by logistic regression on
        # hand-labelled reactions after the linear head, never by the gradient
        self.neutral: nn.Embedding | None = None
        if getattr(config, "neutral_head", False):
            # zeros given, not drawn: the head takes nothing from the random stream, so the
            # rest of a model trained with it is the model trained without it
            self.neutral = nn.Embedding(
                config.linear_buckets, 1, _weight=torch.zeros(config.linear_buckets, 1)
            )
            self.neutral.weight.requires_grad_(False)
            self.neutral_bias = nn.Parameter(torch.zeros(1), requires_grad=False)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            if module is getattr(self, "linear", None) or module is getattr(self, "neutral", None):
                nn.init.zeros_(module.weight)  # the linear heads start as "no evidence"
            else:
                nn.init.normal_(module.weight, std=self.config.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def sparse_parameters(self) -> list[torch.Tensor]:
        return [self.bigram.weight, self.trigram.weight, self.linear.weight]

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        bigram, trigram = hash_ngrams(input_ids, self.config.ngram_buckets)
        chars = self.bert.embeddings.word_embeddings(input_ids)
        return chars + self.ngram_proj(self.bigram(bigram) + self.trigram(trigram))

    def bag(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Hashed 1-3-grams (B, T, 3), their IDF weights and each text's L2 norm of those."""
        mask = attention_mask.unsqueeze(-1).to(self.linear.weight.dtype)
        grams = bag_buckets(input_ids, self.config)
        weight = self.idf[grams] * mask  # (B, T, 3)
        norm = weight.square().sum((1, 2)).clamp(min=1e-6).sqrt().unsqueeze(-1)
        return grams, weight, norm

    @staticmethod
    def _through(table: nn.Embedding, bag: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The bag through a table of one weight per bucket and output: the weighted sum, then
        the norm (in this order: the shipped weights were trained with it)."""
        grams, weight, norm = bag
        return (table(grams) * weight.unsqueeze(-1)).sum((1, 2)) / norm

    def linear_logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        bag: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Bag of hashed 1-3-grams, IDF-weighted and L2-normalised, through the linear head."""
        return self._through(self.linear, bag or self.bag(input_ids, attention_mask)) + self.linear_bias

    def neutral_logit(self, bag: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The same bag through the neutral head: one logit a text (``neutral_head`` models)."""
        assert self.neutral is not None
        return self._through(self.neutral, bag)[:, 0] + self.neutral_bias[0]

    def emoticon_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        """One weight per distinct emoticon in the post (ids in the vocabulary's last range)."""
        assert self.emoticon is not None
        n = self.config.emoticons
        rel = input_ids - (self.config.vocab_size - n)
        # everything that is not an emoticon (characters, [CLS], padding) goes to column n
        bag = torch.zeros(input_ids.shape[0], n + 1, dtype=self.emoticon.dtype, device=input_ids.device)
        bag.scatter_(1, torch.where(rel >= 0, rel, n), 1.0)
        return bag[:, :n] @ self.emoticon

    def downsample(
        self, embeds: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep ``[CLS]``; merge the characters after it in groups of ``stride``."""
        if self.merge is None:
            return embeds, attention_mask
        k = self.config.stride
        cls, chars = embeds[:, :1], embeds[:, 1:]
        mask = attention_mask[:, 1:]
        pad = (-chars.shape[1]) % k
        if pad:
            chars = nn.functional.pad(chars, (0, 0, 0, pad))
            mask = nn.functional.pad(mask, (0, pad))
        b, t, h = chars.shape
        chars = chars * mask.unsqueeze(-1).to(chars.dtype)  # padding must not leak into a group
        merged = self.merge(chars.reshape(b, t // k, k * h))
        merged_mask = mask.reshape(b, t // k, k).amax(-1)
        return torch.cat([cls, merged], 1), torch.cat([attention_mask[:, :1], merged_mask], 1)

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder states and their mask (shorter than the input when ``stride`` > 1)."""
        embeds, mask = self.downsample(self.embed(input_ids), attention_mask)
        return self.bert(inputs_embeds=embeds, attention_mask=mask)[0], mask

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        bag_ids: torch.Tensor | None = None,
        bag_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> SentinelOutput:
        """``bag_ids`` / ``bag_mask``: a longer encoding of the same texts (``input_ids`` is its
        prefix) for the n-gram and emoticon bags; without them the bags read ``input_ids``."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if bag_ids is None or bag_mask is None:
            bag_ids, bag_mask = input_ids, attention_mask
        hidden, enc_mask = self.encode(input_ids, attention_mask)
        mask = enc_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits = self.out(self.head(torch.cat([hidden[:, 0], mean], dim=-1)))
        bag = self.bag(bag_ids, bag_mask)
        logits = logits + self.linear_logits(bag_ids, bag_mask, bag)
        if self.emoticon is not None:
            logits = logits + self.emoticon_logits(bag_ids)
        neutral = self.neutral_logit(bag) if self.neutral is not None else None
        return SentinelOutput(
            sentiment_logits=logits[:, 0], topic_logits=logits[:, 1:], neutral_logits=neutral
        )

    def read(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, window: int) -> SentinelOutput:
        """A batch as a post is read: the encoder its first ``window`` ids, the n-gram and
        emoticon bags all of them (the classifier's and the training validation's reading)."""
        if input_ids.shape[1] <= window:
            return self(input_ids=input_ids, attention_mask=attention_mask)
        return self(
            input_ids=input_ids[:, :window].contiguous(),
            attention_mask=attention_mask[:, :window].contiguous(),
            bag_ids=input_ids,
            bag_mask=attention_mask,
        )


class MLMHead(nn.Module):
    """Masked-character prediction for pretraining the encoder; not saved with the model.

    With downsampling, each encoder position predicts the ``stride`` characters it merged.
    """

    def __init__(self, model: SentinelModel) -> None:
        super().__init__()
        h, k = model.config.hidden_size, max(1, model.config.stride)
        self.stride = k
        self.expand = nn.Linear(h, k * h)
        self.norm = nn.LayerNorm(h)
        self.decoder_bias = nn.Parameter(torch.zeros(model.config.vocab_size))
        self._model = [model]  # not a submodule: its weights belong to the model

    def forward(self, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over masked characters; ``labels`` is (B, T) with -100 elsewhere."""
        k = self.stride
        chars = labels[:, 1:]
        pad = (-chars.shape[1]) % k
        if pad:
            chars = nn.functional.pad(chars, (0, pad), value=-100)
        b = hidden.shape[0]
        states = self.norm(nn.functional.gelu(self.expand(hidden[:, 1:]).reshape(b, -1, hidden.shape[-1])))
        targets = chars.reshape(b, -1)
        picked = targets >= 0
        weight = self._model[0].bert.embeddings.word_embeddings.weight  # tied
        logits = states[picked] @ weight.T + self.decoder_bias
        return nn.functional.cross_entropy(logits, targets[picked])
