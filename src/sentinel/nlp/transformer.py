"""The transformer classifier: the bundled sentinel model, or any local HF checkpoint.

>>> clf = TransformerClassifier("models/default")
>>> [s.negative > 0.5 for s in clf.classify(["质量太差了，再也不买", "很好用，物流也快"])]
[True, False]
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers.utils import logging as hf_logging

from sentinel.nlp.base import Scores
from sentinel.nlp.modeling import SentinelConfig, SentinelModel
from sentinel.nlp.taxonomy import Taxonomy, load_taxonomy
from sentinel.nlp.text import CharTokenizer
from sentinel.paths import REPO_ROOT, find

__all__ = ["TransformerClassifier", "resolve_model_dir"]

AutoConfig.register("sentinel", SentinelConfig, exist_ok=True)
AutoModel.register(SentinelConfig, SentinelModel, exist_ok=True)

_SENTIMENTS = ("negative", "neutral", "positive")


def resolve_model_dir(model: str | Path) -> Path:
    """A relative path is tried against the current directory, then the repository root
    (so the bundled ``models/default`` is found wherever the daemon is started)."""
    path = Path(model).expanduser()
    if path.is_absolute():
        if (path / "config.json").is_file():
            return path
        tried = str(path)
    else:
        found = find(path, "config.json")
        if found is not None:
            return found
        tried = f"{Path.cwd() / path}, {REPO_ROOT / path}"
    raise FileNotFoundError(f"no model (config.json) at {model!r}; tried {tried}")


def _quantize(model: nn.Module) -> nn.Module:
    # Eager dynamic quantisation is deprecated in favour of torchao, which is not a
    # dependency here; the eager API still works and is what keeps the default model fast.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


class TransformerClassifier:
    """Scores texts with a local checkpoint directory.

    ``label_map`` is for foreign sequence-classification checkpoints: it maps their labels
    (``"LABEL_0"``, or the index ``"0"``) to ``negative`` / ``neutral`` / ``positive``. Their
    P(negative) is ``p(negative) + p(neutral) / 2`` so that a confident neutral lands in the
    neutral band. Foreign checkpoints have no crisis-topic head; their topics are empty.
    """

    def __init__(
        self,
        model: str | Path = "models/default",
        *,
        threads: int = 2,
        max_length: int = 128,
        batch_size: int = 64,
        quantize: bool = True,
        label_map: Mapping[str, str] | None = None,
        seed_floor: float | None = 0.6,
    ) -> None:
        self.path = resolve_model_dir(model)
        # A post that names a topic's seed term ("食物中毒", "裁员") scores at least
        # `seed_floor` on it: the head is trained on seed matches but, being small and
        # trained briefly, under-scores some of them. None = the head's scores alone.
        self.seed_floor = seed_floor
        self.taxonomy: Taxonomy | None = None
        self.max_length = max_length
        self.bag_length = max_length  # what the n-gram bags read (native models: bag_chars)
        self.batch_size = max(1, batch_size)
        self.threads = max(1, threads)
        # Parallelism across batches, not inside them: `threads` Python threads each run
        # whole sub-batches with one torch thread. Intra-op threads (torch.set_num_threads(2))
        # spin-wait on each other and collapse when the host is busy -- measured 10x slower
        # under load than this; on an idle host the two are on par. torch ops release the GIL.
        torch.set_num_threads(1)
        self._pool = (
            ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="sentinel-torch")
            if self.threads > 1
            else None
        )
        hf_logging.disable_progress_bar()
        # Guards the model: the engine calls from one worker thread, but a CLI or a test
        # may share a classifier between threads.
        self._lock = threading.Lock()
        model_type = json.loads((self.path / "config.json").read_text(encoding="utf-8")).get("model_type")
        self.native = model_type == "sentinel"
        self.topic_labels: list[str] = []
        self._neg_weights: torch.Tensor | None = None
        net: PreTrainedModel
        if self.native:
            net = SentinelModel.from_pretrained(self.path, dtype=torch.float32)
            self._tok: CharTokenizer | None = CharTokenizer.load(self.path)
            self.topic_labels = list(net.config.topic_labels)
            if (self.path / "taxonomy.yaml").is_file():
                self.taxonomy = load_taxonomy(self.path / "taxonomy.yaml")
            self.max_length = min(max_length, net.config.max_position_embeddings)
            self.bag_length = max(self.max_length, int(getattr(net.config, "bag_chars", 0) or 0))
        else:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            net = AutoModelForSequenceClassification.from_pretrained(self.path, dtype=torch.float32)
            self._tok = None
            self._hf_tok = AutoTokenizer.from_pretrained(self.path)
            self._neg_weights = _negative_weights(net.config.id2label or {}, label_map or {})
        net.eval()
        self.quantized = quantize
        self.model: nn.Module = _quantize(net) if quantize else net
        self.name = f"transformer:{self.path.name}{'+int8' if quantize else ''}"

    def classify(self, texts: Sequence[str]) -> list[Scores]:
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        # Small calls (the engine's micro-batches) are split so that every thread gets work.
        size = min(self.batch_size, -(-len(order) // self.threads))
        chunks = [order[start : start + size] for start in range(0, len(order), size)]
        out: list[Scores | None] = [None] * len(texts)
        with self._lock:
            if self._pool is None or len(chunks) == 1:
                results = [self._run_chunk(texts, idx) for idx in chunks]
            else:
                results = list(self._pool.map(lambda idx: self._run_chunk(texts, idx), chunks))
        for idx, scores in zip(chunks, results, strict=True):
            for i, score in zip(idx, scores, strict=True):
                out[i] = score
        return [s for s in out if s is not None]

    def _run_chunk(self, texts: Sequence[str], idx: list[int]) -> list[Scores]:
        with torch.inference_mode():  # thread-local: entered in the worker thread
            return self._run([texts[i] for i in idx])

    def _run(self, texts: list[str]) -> list[Scores]:
        if self._tok is not None:
            # the encoder reads the first max_length characters; the n-gram bags the whole text
            ids, mask = self._tok.encode_batch(texts, self.bag_length)
            native = cast(SentinelModel, self.model)  # quantised or not, still a SentinelModel
            result = native.read(torch.from_numpy(ids), torch.from_numpy(mask), self.max_length)
            assert result.sentiment_logits is not None and result.topic_logits is not None
            neg = torch.sigmoid(result.sentiment_logits).tolist()
            topics = torch.sigmoid(result.topic_logits).tolist()
            neutral: list[float | None] = (
                torch.sigmoid(result.neutral_logits).tolist()
                if result.neutral_logits is not None
                else [None] * len(texts)
            )
            labels = self.topic_labels
            out = []
            for text, n, t, u in zip(texts, neg, topics, neutral, strict=True):
                scores = {label: round(p, 6) for label, p in zip(labels, t, strict=True)}
                if self.taxonomy is not None and self.seed_floor is not None:
                    for topic_id in self.taxonomy.match(text):
                        if topic_id in scores:
                            scores[topic_id] = max(scores[topic_id], self.seed_floor)
                out.append(Scores(negative=n, topics=scores, neutral=u))
            return out
        enc = self._hf_tok(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        probs = torch.softmax(self.model(**enc).logits.float(), dim=-1)
        assert self._neg_weights is not None
        neg = (probs @ self._neg_weights).clamp(0.0, 1.0).tolist()
        return [Scores(negative=n) for n in neg]


def _negative_weights(id2label: Mapping[Any, str], label_map: Mapping[str, str]) -> torch.Tensor:
    """Per-class weight of P(negative): 1 for negative, 0.5 for neutral, 0 for positive."""
    weights = []
    for index in sorted(int(i) for i in id2label):
        name = str(id2label.get(index, id2label.get(str(index), f"LABEL_{index}")))
        mapped = label_map.get(name) or label_map.get(str(index)) or _guess(name)
        if mapped is None:
            raise ValueError(
                f"cannot tell what label {name!r} (index {index}) means; set [classifier] label_map, "
                f'e.g. {{"{name}" = "negative"}}'
            )
        mapped = mapped.lower()
        if mapped not in _SENTIMENTS:
            raise ValueError(f"label_map: {name!r} -> {mapped!r}, expected one of {', '.join(_SENTIMENTS)}")
        weights.append({"negative": 1.0, "neutral": 0.5, "positive": 0.0}[mapped])
    if 1.0 not in weights:
        raise ValueError("label_map maps no label to 'negative'")
    return torch.tensor(weights)


def _guess(name: str) -> str | None:
    lowered = name.lower()
    for key, value in (("neg", "negative"), ("pos", "positive"), ("neu", "neutral")):
        if lowered.startswith(key):
            return value
    return None
