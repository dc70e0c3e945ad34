"""Classifier throughput and latency: the bundled model next to a bert-base-sized pipeline.

    python bench/classify.py [--model models/default] [--threads 2] [--markdown]

For each batch size, posts/s and the p50 / p99 latency of one batch call, on ~60-character
posts taken from the shared Weibo corpus (or generated when it is absent). The comparison
is ``transformers.pipeline("text-classification")`` on a BERT with bert-base-chinese's shape
(21,128 vocabulary, 12 layers, 768 wide) and random weights, built locally: no model hub.
Random weights cost the same time as trained ones.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sentinel.nlp.commands import classify_stream  # noqa: E402
from sentinel.nlp.transformer import TransformerClassifier  # noqa: E402

SIZES = (1, 8, 32, 64, 128, 256)


def sample_posts(n: int, length: int = 60) -> list[str]:
    path = REPO.parent / "shared" / "data" / "weibo_senti_dev.jsonl"
    texts: list[str] = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            text = json.loads(line)["text"]
            if len(text) >= length:
                texts.append(text[:length])
    if not texts:
        texts = [("物流太慢了，客服也不回复，质量一般般，" * 4)[:length]]
    return [texts[i % len(texts)] for i in range(n)]


def measure(
    run: Callable[[list[str]], object], posts: Sequence[str], batch: int, min_seconds: float, max_calls: int
) -> dict[str, float]:
    run(list(posts[: min(batch, 16)]))  # warm-up (a full bert-base batch of 256 takes a minute)
    latencies: list[float] = []
    started = time.perf_counter()
    i = 0
    while len(latencies) < max_calls and (
        time.perf_counter() - started < min_seconds or len(latencies) < min(3, max_calls)
    ):
        chunk = [posts[(i + j) % len(posts)] for j in range(batch)]
        i += batch
        t0 = time.perf_counter()
        run(chunk)
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    total = sum(latencies)
    return {
        "batch": batch,
        "posts_per_s": batch * len(latencies) / total,
        # On a shared machine the fastest call is the best estimate of an idle one.
        "best_posts_per_s": batch / latencies[0],
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "calls": len(latencies),
    }


def measure_stream(clf: TransformerClassifier, posts: Sequence[str], repeat: int = 3) -> float:
    """Posts/s through the `sentinel classify` loop: JSON in, score, JSON out (no process start)."""
    import io

    payload = "".join(
        json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(posts)
    )
    best = 0.0
    for _ in range(repeat):
        out = io.StringIO()
        t0 = time.perf_counter()
        classify_stream(clf, io.StringIO(payload), out)
        best = max(best, len(posts) / (time.perf_counter() - t0))
    return best


def bert_base_pipeline(threads: int) -> Callable[[list[str]], object]:
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer, pipeline

    torch.set_num_threads(threads)
    chars = sorted({c for t in sample_posts(5000) for c in t})
    vocab = ["[PAD]", *[f"[unused{i}]" for i in range(99)], "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    vocab += [f"[filler{i}]" for i in range(21128 - len(vocab))]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        tokenizer = BertTokenizer(vocab_file=str(Path(tmp) / "vocab.txt"))
    config = BertConfig(
        vocab_size=21128,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        id2label={0: "LABEL_0", 1: "LABEL_1"},
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)

    def run(texts: list[str]) -> object:
        return pipe(texts, batch_size=len(texts), truncation=True, max_length=128)

    return run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum time per batch size")
    parser.add_argument(
        "--baseline-sizes", default="1,8,32,64,256", help="batch sizes for the bert-base pipeline"
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    posts = sample_posts(4096)
    rows: dict[tuple[str, int], dict[str, float]] = {}
    stream: dict[str, float] = {}
    for quantize in (True, False):
        label = "sentinel default" + (" (int8)" if quantize else " (fp32)")
        clf = TransformerClassifier(args.model, threads=args.threads, batch_size=256, quantize=quantize)
        for size in SIZES:
            rows[(label, size)] = measure(clf.classify, posts, size, args.seconds, 10_000)
            print(
                f"{label:28} batch {size:>3}: {rows[(label, size)]['posts_per_s']:8.1f} posts/s",
                file=sys.stderr,
            )
        for size in (64, 256):
            clf.batch_size = size
            key = f"{label}, batch {size}"
            stream[key] = measure_stream(clf, posts)
            print(f"{label:28} classify loop, batch {size}: {stream[key]:.0f} posts/s", file=sys.stderr)
    if not args.no_baseline:
        run = bert_base_pipeline(args.threads)
        for size in (int(s) for s in args.baseline_sizes.split(",")):
            # bert-base is ~100x slower: one timed call per size beyond the warm-up is enough
            rows[("bert-base pipeline", size)] = measure(run, posts, size, 0.0, max(1, 64 // size))
            print(
                f"{'bert-base pipeline':28} batch {size:>3}: {rows[('bert-base pipeline', size)]['posts_per_s']:8.1f} posts/s",
                file=sys.stderr,
            )

    if args.markdown:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"threads={args.threads}, 60-character posts, load average at the end: {load}")
        print()
        print("| model | batch | posts/s | best-call posts/s | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for (label, size), r in rows.items():
            print(
                f"| {label} | {size} | {r['posts_per_s']:.0f} | {r['best_posts_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
            )
        print()
        print("| `sentinel classify` loop (JSONL in/out) | posts/s |")
        print("|---|---:|")
        for label, rate in stream.items():
            print(f"| {label} | {rate:.0f} |")
    else:
        print(
            json.dumps(
                {
                    "batches": [{"model": label, **r} for (label, _), r in rows.items()],
                    "classify_stream": stream,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
