"""CLI commands of the NLP part: ``train``, ``evaluate`` and ``classify``.

The lead's ``cli.py`` calls :func:`register` on its Typer app.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from sentinel.batching import chunked
from sentinel.nlp.base import Classifier, Scores, sentiment_label
from sentinel.nlp.data import NEGATION_TRAIN
from sentinel.nlp.reaction_reader import Crowds, ReactionReader
from sentinel.nlp.reactions import CASCADES_FILE, LABELLED_REACTIONS, labelled_rows
from sentinel.paths import REPO_ROOT, find
from sentinel.post import PostError, decode_json
from sentinel.risk.context import in_context

__all__ = ["annotate", "register"]

_CHUNK = 1024  # lines read, scored and written at a time: memory stays flat on big inputs
_EARLIER = 100_000  # posts remembered for the reposts that come after them
# posts whose crowd is kept (up to CROWD readings each: 44 MB at most, measured)
_CROWD_POSTS = 10_000


def _default_data_dir() -> Path:
    """``../shared/data`` next to the current directory, else next to the repository."""
    for base in (Path.cwd(), REPO_ROOT):
        candidate = (base / ".." / "shared" / "data").resolve()
        if candidate.is_dir():
            return candidate
    return (Path.cwd() / ".." / "shared" / "data").resolve()


def _default_path(relative: str) -> Path:
    return find(relative) or REPO_ROOT / relative


def annotate(
    obj: dict[str, Any], scores: Scores, *, neutral_band: float, topic_threshold: float
) -> dict[str, Any]:
    """Add ``sentiment`` and ``topics`` (those at or above the threshold, best first)."""
    obj["sentiment"] = {
        "label": sentiment_label(scores.negative, neutral_band, scores.neutral),
        "negative": round(scores.negative, 6),
    }
    if scores.neutral is not None:  # a model with a learnt neutral class
        obj["sentiment"]["neutral"] = round(scores.neutral, 6)
    topics = sorted(((s, t) for t, s in scores.topics.items() if s >= topic_threshold), reverse=True)
    obj["topics"] = [{"label": t, "score": round(s, 4)} for s, t in topics]
    return obj


def _parse(line: str) -> dict[str, Any] | str:
    """The post, or an error message for this line."""
    try:
        obj = decode_json(line)  # a "\\ud800" escape: a character no UTF-8 output could hold
    except PostError as exc:  # bad JSON, or an integer of more digits than Python converts
        return f"invalid JSON: {exc.detail}" if exc.reason == "bad_json" else f"bad number: {exc.detail}"
    except RecursionError:
        return "invalid JSON: nested too deeply"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    if not isinstance(obj.get("text"), str):
        return "missing or non-string 'text'"
    return obj


def classify_stream(
    clf: Classifier,
    stdin: TextIO,
    stdout: TextIO,
    *,
    neutral_band: float = 0.15,
    topic_threshold: float = 0.5,
    reader: ReactionReader | None = None,
) -> tuple[int, int]:
    """JSONL in, JSONL out, same order; returns (posts scored, malformed lines).

    A repost is also read with what it reposts (:mod:`sentinel.risk.context`) when that is
    known: a ``context`` string in the object (the reposted text), or a ``repost_of`` naming a
    post earlier in the input (the last 100,000 are remembered). Its ``sentiment`` then also
    has ``in_context``, P(negative) of the repost as part of what it spreads, and with a
    ``reader`` (:mod:`sentinel.nlp.reaction_reader`) ``as_reaction``, P(negative) of its own
    words read as a reaction to that post, after the reactions to it earlier in the input (kept
    for the 10,000 posts most recently reacted to)."""
    done = errors = 0
    line_no = 0
    earlier: OrderedDict[tuple[str, str], float] = OrderedDict()
    crowds = Crowds(_CROWD_POSTS)
    # blank lines carry no post; JSONL writers often end with one
    for chunk in chunked((line for line in stdin if line.strip()), _CHUNK):
        parsed = [_parse(line) for line in chunk]
        posts = [p for p in parsed if isinstance(p, dict)]
        contexts = sorted({p["context"] for p in posts if isinstance(p.get("context"), str)})
        texts = [p["text"] for p in posts]
        scored = clf.classify(texts + contexts)
        of_context = {c: s.negative for c, s in zip(contexts, scored[len(texts) :], strict=True)}
        scores = iter(scored[: len(texts)])
        for item in parsed:
            line_no += 1
            if isinstance(item, dict):
                s = next(scores)
                context = _context_of(item, of_context, earlier)
                out = annotate(item, s, neutral_band=neutral_band, topic_threshold=topic_threshold)
                if context is not None:
                    out["sentiment"]["in_context"] = round(in_context(item["text"], s.negative, context), 6)
                    if reader is not None:
                        post = _post_of(item)
                        p = reader.negative(
                            item["text"],
                            own=s.negative,
                            neutral=s.neutral,
                            context=context,
                            crowd=crowds.of(post),
                        )
                        out["sentiment"]["as_reaction"] = round(p, 6)
                        crowds.add(post, item["text"], s.negative)
                if isinstance(item.get("id"), str | int):
                    earlier[(str(item.get("platform", "")), str(item["id"]))] = s.negative
                    if len(earlier) > _EARLIER:
                        earlier.popitem(last=False)
                done += 1
            else:
                # Keep the line's place so output line N still answers input line N.
                out = {"error": item, "line": line_no}
                errors += 1
                print(f"line {line_no}: {item}", file=sys.stderr)
            stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return done, errors


def _reposted(post: dict[str, Any]) -> tuple[str, str] | None:
    """(platform, id) of the post ``post`` reposts, as ``earlier`` keys it; None without one."""
    original = post.get("repost_of")
    if isinstance(original, str | int) and not isinstance(original, bool):
        return str(post.get("platform", "")), str(original)
    return None


def _post_of(post: dict[str, Any]) -> tuple[str, str | bytes]:
    """What a reaction reacts to, as its crowd is kept: the post it reposts, else a digest of
    its context (an absurdly long context is not kept for every post)."""
    reposted = _reposted(post)
    if reposted is not None:
        return reposted
    context = str(post.get("context")).encode("utf-8", "surrogatepass")
    return "context", hashlib.blake2b(context, digest_size=16).digest()


def _context_of(
    post: dict[str, Any], of_context: dict[str, float], earlier: OrderedDict[tuple[str, str], float]
) -> float | None:
    """P(negative) of what ``post`` reposts: its ``context`` text, else its ``repost_of`` if seen."""
    if isinstance(post.get("context"), str):
        return of_context[post["context"]]
    reposted = _reposted(post)
    return None if reposted is None else earlier.get(reposted)


def register(app: typer.Typer) -> None:
    """Add ``train``, ``train-rumour``, ``train-reactions``, ``evaluate`` and ``classify`` to ``app``."""
    app.command("train")(train_command)
    app.command("train-rumour")(train_rumour_command)
    app.command("train-reactions")(train_reactions_command)
    app.command("evaluate")(evaluate_command)
    app.command("classify")(classify_command)


def _build(
    model: Path | None, threads: int, batch_size: int, quantize: bool, max_length: int = 128
) -> Classifier:
    from sentinel.nlp.transformer import TransformerClassifier

    return TransformerClassifier(
        model or "models/default",
        threads=threads,
        batch_size=batch_size,
        quantize=quantize,
        max_length=max_length,
    )


def classify_command(
    model: Annotated[Path | None, typer.Option(help="model directory (default: models/default)")] = None,
    threads: Annotated[int, typer.Option(help="torch threads")] = 2,
    batch_size: Annotated[int, typer.Option(help="posts per model call")] = 64,
    quantize: Annotated[bool, typer.Option(help="dynamic int8 quantisation")] = True,
    max_length: Annotated[int, typer.Option(help="truncate posts to this many characters")] = 128,
    neutral_band: Annotated[float, typer.Option(help="|P(neg) - 0.5| below this is neutral")] = 0.15,
    topic_threshold: Annotated[float, typer.Option(help="list topics scoring at least this")] = 0.5,
) -> None:
    """Score JSONL posts from stdin; write them to stdout with sentiment and topics added."""
    clf = _build(model, threads, batch_size, quantize, max_length)
    try:
        reader = ReactionReader.beside(model or "models/default")
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if isinstance(sys.stdin, io.TextIOWrapper):
        # JSONL is UTF-8; a stray invalid byte becomes U+FFFD in its line, not a dead stream
        sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    done, errors = classify_stream(
        clf, sys.stdin, sys.stdout, neutral_band=neutral_band, topic_threshold=topic_threshold, reader=reader
    )
    print(f"classified {done} posts, {errors} malformed line(s)", file=sys.stderr)


def train_command(
    data: Annotated[
        Path | None, typer.Option(help="directory of labelled *.jsonl (default ../shared/data)")
    ] = None,
    out: Annotated[Path, typer.Option(help="output model directory")] = Path("models/default"),
    taxonomy: Annotated[Path | None, typer.Option(help="crisis-topic taxonomy YAML")] = None,
    seed: Annotated[int, typer.Option()] = 13,
    epochs: Annotated[int, typer.Option(help="more overfits: the best epoch has always been the first")] = 1,
    time_budget: Annotated[float, typer.Option(help="hard stop, in minutes")] = 28.0,
    batch_size: Annotated[int, typer.Option()] = 64,
    lr: Annotated[float, typer.Option(help="encoder learning rate")] = 1e-3,
    hidden: Annotated[int, typer.Option(help="encoder width")] = 128,
    layers: Annotated[int, typer.Option(help="encoder layers")] = 2,
    heads: Annotated[int, typer.Option(help="attention heads")] = 2,
    intermediate: Annotated[int, typer.Option(help="feed-forward width")] = 256,
    stride: Annotated[int, typer.Option(help="characters merged into one encoder position")] = 3,
    mlm_epochs: Annotated[float, typer.Option(help="masked-character pretraining epochs")] = 2.0,
    distill: Annotated[float, typer.Option(help="weight of TF-IDF teacher soft targets (0..1)")] = 0.5,
    strip_prob: Annotated[float, typer.Option(help="share of Weibo examples seen without emoticons")] = 0.5,
    linear_init: Annotated[
        float, typer.Option(help="fit the linear head by logistic regression first (C; 0 = off)")
    ] = 4.0,
    emoticon_min_count: Annotated[
        int, typer.Option(help="emoticons in this many texts become tokens with their own head (0 = off)")
    ] = 3,
    emoticon_c: Annotated[
        float, typer.Option(help="fit the emoticon head by logistic regression first (C; 0 = learn it)")
    ] = 4.0,
    freeze_emoticons: Annotated[bool, typer.Option(help="keep the fitted emoticon head fixed")] = True,
    reactions: Annotated[
        int, typer.Option(help="real reactions from the cascades file, weak-labelled by emoticons, per class")
    ] = 0,
    neutral_reactions: Annotated[
        int, typer.Option(help="reactions with only neutral emoticons, trained towards P(negative) 0.4")
    ] = 0,
    reaction_weight: Annotated[
        float, typer.Option(help="a weak-labelled reaction's weight in the fits")
    ] = 1.0,
    mlm_reactions: Annotated[
        int, typer.Option(help="real reactions added to masked-character pretraining")
    ] = 0,
    labelled_reactions: Annotated[
        Path | None, typer.Option(help="hand-labelled reactions, JSONL")
    ] = LABELLED_REACTIONS,
    labelled_weight: Annotated[
        float, typer.Option(help="a hand-labelled reaction's weight in the fits")
    ] = 5.0,
    labelled_neutral: Annotated[
        float, typer.Option(help="P(negative) a hand-labelled neutral reaction is trained towards")
    ] = 0.0,
    labelled_limit: Annotated[
        int | None, typer.Option(help="read only the first this many hand-labelled reactions (0: none)")
    ] = 3000,
    neutral_c: Annotated[
        float,
        typer.Option(
            help="the neutral head's logistic regression C, fitted on the labelled neutral reactions (0: none)"
        ),
    ] = 4.0,
    labelled_reviews: Annotated[
        Path | None,
        typer.Option(help="hand-written reviews that deny a fault or a virtue, JSONL (the negation data)"),
    ] = NEGATION_TRAIN,
    review_weight: Annotated[float, typer.Option(help="such a review's weight in the fits")] = 6.0,
    negation_scope: Annotated[
        int, typer.Option(help="characters after 不/没/无/未/别 whose n-grams the bag reads apart (0: off)")
    ] = 4,
    cascades: Annotated[
        Path | None, typer.Option(help="the cascades file (default: weibo_cascades.jsonl.gz in --data)")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="subsample this many rows (quick runs)")] = None,
    threads: Annotated[int, typer.Option(help="torch threads (1 is fastest on a busy machine)")] = 1,
) -> None:
    """Train the bundled sentiment + crisis-topic model from the shared corpora.

    Every option is the :class:`~sentinel.nlp.train.TrainSettings` field of the same name, and
    the defaults are the shipped model's recipe (docs/model.md; its training_report.json).
    """
    options = dict(locals())
    try:
        from sentinel.nlp.train import TrainSettings, train
    except ImportError as exc:  # scikit-learn, scipy, tqdm: the train extra
        typer.echo(
            f"sentinel train needs the train extra ({exc.name} is missing): pip install -e '.[train]'",
            err=True,
        )
        raise typer.Exit(2) from None

    options.update(
        data=data or _default_data_dir(),
        taxonomy=taxonomy or _default_path("config/taxonomy.yaml"),
        time_budget=time_budget * 60.0,
    )
    settings = TrainSettings(**options)
    try:
        train(settings)
    except ValueError as exc:  # a missing or held-out input: said in one line, not a traceback
        typer.echo(f"sentinel train: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(refresh_reader(out, labelled_reactions, settings.labelled_limit, settings.cascades_file))


def refresh_reader(
    model: Path, labelled: Path | None, limit: int | None, cascades: Path | None = None
) -> str:
    """After training ``model`` on the first ``limit`` of ``labelled`` (None: all of them):
    refit the reaction reader that stacks on it (with the crowds in ``cascades`` where that
    file exists), or remove one left from an earlier model where no labelled reactions are
    left to fit it on. Says which."""
    from sentinel.nlp.reaction_reader import FILENAME, MIN_ROWS

    rows = labelled_rows(labelled) if labelled is not None and labelled.is_file() else []
    skip = len(rows) if limit is None else limit
    if len(rows) - skip >= MIN_ROWS:
        report = _write_reader(model, rows, skip, cascades=cascades)
        return f"reaction reader: {json.dumps(report, ensure_ascii=False)}"
    if (model / FILENAME).exists():
        (model / FILENAME).unlink()
        return f"removed {model / FILENAME}: no labelled reactions beyond the model's to fit it on"
    return "no reaction reader: no labelled reactions beyond the model's to fit it on"


def train_rumour_command(
    cascades: Annotated[
        Path | None, typer.Option(help="the cascades file (default: ../shared/data/weibo_cascades.jsonl.gz)")
    ] = None,
    out: Annotated[Path, typer.Option(help="where to write the model")] = Path("models/default/rumour.json"),
    holdout: Annotated[
        list[Path] | None,
        typer.Option(help="more event lists (one id a line) to leave out; the defaults always are"),
    ] = None,
    max_features: Annotated[int, typer.Option(help="character n-grams kept")] = 60_000,
) -> None:
    """Fit the rumour model the risk engine reads stories with (docs/risk.md, *Rumour-likeness*)."""
    try:
        from sentinel.nlp.rumour_train import HELD_OUT, fit_rumour
    except ImportError as exc:
        typer.echo(f"sentinel train-rumour needs the train extra ({exc.name} is missing)", err=True)
        raise typer.Exit(2) from None
    path = cascades or _default_cascades()
    if not path.is_file():
        typer.echo(f"no cascades file at {path}", err=True)
        raise typer.Exit(2)
    report = fit_rumour(path, out, holdout=(*HELD_OUT, *(holdout or [])), max_features=max_features)
    typer.echo(json.dumps(report, ensure_ascii=False))
    typer.echo(f"wrote {out}")


def train_reactions_command(
    model: Annotated[Path, typer.Option(help="model directory the reader reads with")] = Path(
        "models/default"
    ),
    labelled: Annotated[
        Path, typer.Option(help='hand-labelled reactions ({"event", "text", "context", "label"} JSONL)')
    ] = LABELLED_REACTIONS,
    skip: Annotated[
        int | None,
        typer.Option(
            help="rows the model trained on, left out (default: its training report's labelled_limit)"
        ),
    ] = None,
    c: Annotated[float, typer.Option(help="inverse regularisation of the logistic regression")] = 4.0,
    cascades: Annotated[
        Path | None,
        typer.Option(
            help="the cascades file the crowd before each reaction is read from "
            "(default: ../shared/data/weibo_cascades.jsonl.gz; without it, no crowd features)"
        ),
    ] = None,
) -> None:
    """Fit the reaction reader (a repost's or comment's words read with the post they answer
    and the crowd before it; docs/model.md, *Reactions read in context*) and write it beside
    the model."""
    if skip is None:
        skip = _labelled_limit(model)
    if cascades is not None and not cascades.is_file():
        typer.echo(f"no cascades file at {cascades}", err=True)
        raise typer.Exit(2)
    try:
        rows = labelled_rows(labelled)
        report = _write_reader(model, rows, skip, c, cascades or _default_cascades())
    except ImportError as exc:
        typer.echo(f"sentinel train-reactions needs the train extra ({exc.name} is missing)", err=True)
        raise typer.Exit(2) from None
    except (OSError, ValueError, KeyError) as exc:  # JSONDecodeError is a ValueError
        typer.echo(f"cannot fit the reaction reader: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(report, ensure_ascii=False))
    typer.echo(f"wrote {model / 'reactions.json'}")


def _default_cascades() -> Path:
    return _default_data_dir() / CASCADES_FILE


def _write_reader(
    model: Path, rows: list[dict[str, Any]], skip: int, c: float = 4.0, cascades: Path | None = None
) -> dict[str, Any]:
    """Fit the reaction reader on ``rows`` after the first ``skip``, reading with ``model``,
    each row after its crowd in ``cascades`` where that file exists; write it beside the model
    and return its report."""
    from sentinel.config import ClassifierConfig
    from sentinel.nlp.reaction_reader import FILENAME, fit_reaction_reader
    from sentinel.nlp.reactions import crowds_of
    from sentinel.nlp.scoring import load_classifier

    clf = load_classifier(ClassifierConfig(model=str(model)))
    crowds = crowds_of(rows, cascades) if cascades is not None and cascades.is_file() else None
    reader, report = fit_reaction_reader(clf, rows, skip=skip, c=c, crowds=crowds)
    reader.save(model / FILENAME, {"report": report})
    return report


def _labelled_limit(model: Path) -> int:
    """How many of the labelled reactions ``model`` trained on (its training report): 0 if
    none or no report, all of them (a very large number) where it read them without a limit."""
    try:
        report = json.loads((model / "training_report.json").read_text(encoding="utf-8"))
        settings = report["settings"]
        if not settings.get("labelled_reactions"):
            return 0
        limit = settings["labelled_limit"]
        return 1 << 62 if limit is None else int(limit)
    except (OSError, KeyError, TypeError, ValueError):
        return 0


def evaluate_command(
    data: Annotated[Path | None, typer.Option(help='labelled JSONL ({"text", "label"}) to score')] = None,
    model: Annotated[Path | None, typer.Option(help="model directory (default: models/default)")] = None,
    heldout: Annotated[
        Path | None, typer.Option(help="score the held-out test split of this corpus directory")
    ] = None,
    baseline: Annotated[
        bool, typer.Option(help="with --heldout: also TF-IDF + LR trained on the train split")
    ] = False,
    topics: Annotated[
        Path | None, typer.Option(help='hand-labelled JSONL ({"text", "topics"}) for topic P/R')
    ] = None,
    strip_emoticons: Annotated[bool, typer.Option(help="remove [...] emoticons before scoring")] = False,
    neutral_band: Annotated[float, typer.Option(help="0 = binary decision at 0.5")] = 0.0,
    threads: Annotated[int, typer.Option()] = 2,
    batch_size: Annotated[int, typer.Option()] = 64,
    quantize: Annotated[bool, typer.Option()] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Accuracy, macro-F1, confusion matrix and throughput of a model on labelled data."""
    from sentinel.nlp.data import load_jsonl_examples
    from sentinel.nlp.evaluate import evaluate_examples, evaluate_heldout, evaluate_topics

    if data is None and heldout is None and topics is None:
        raise typer.BadParameter("give --data FILE.jsonl, --heldout DIR or --topics FILE.jsonl")
    clf = _build(model, threads, batch_size, quantize)
    result: dict[str, Any] = {"model": clf.name}
    if data is not None:
        result["data"] = evaluate_examples(
            clf, load_jsonl_examples(data), neutral_band=neutral_band, strip=strip_emoticons
        )
    if heldout is not None:
        result["heldout"] = evaluate_heldout(clf, heldout, baseline=baseline)
    if topics is not None:
        from sentinel.nlp.taxonomy import load_taxonomy
        from sentinel.nlp.transformer import resolve_model_dir

        bundled = resolve_model_dir(model or "models/default") / "taxonomy.yaml"
        taxonomy = load_taxonomy(bundled) if bundled.is_file() else None
        result["topics"] = evaluate_topics(clf, topics, taxonomy=taxonomy)
        if getattr(clf, "seed_floor", None) is not None:
            # The same posts with the head's scores alone: what the model learnt past the seeds.
            floor, clf.seed_floor = clf.seed_floor, None  # type: ignore[attr-defined]
            result["topics_head_only"] = evaluate_topics(clf, topics)
            clf.seed_floor = floor  # type: ignore[attr-defined]
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print_report(result)


def _print_report(result: dict[str, Any]) -> None:
    print(f"model: {result['model']}")
    if "data" in result:
        d = result["data"]
        print(
            f"posts: {d['n']}  accuracy: {d['accuracy']:.4f}  macro-F1: {d['macro_f1']:.4f}  throughput: {d['posts_per_s']} posts/s"
        )
        labels = list(d["confusion"])
        print("confusion (rows gold, columns predicted):")
        print("  " + "".join(f"{lab:>10}" for lab in ["", *labels]))
        for g in labels:
            print("  " + f"{g:>10}" + "".join(f"{d['confusion'][g][p]:>10}" for p in labels))
    if "heldout" in result:
        print("held-out test split:")
        for name, r in result["heldout"].items():
            base = f"  baseline {r['baseline_accuracy']:.4f}" if "baseline_accuracy" in r else ""
            print(f"  {name:<45} n={int(r['n']):>5}  accuracy {r['accuracy']:.4f}{base}")
    if "topics_head_only" in result:
        print("topics, model head alone (threshold 0.5):")
        for name, r in result["topics_head_only"].items():
            print(
                f"  {name:<26} P {r['precision']:.3f}  R {r['recall']:.3f}  F1 {r['f1']:.3f}  n={int(r['support'])}"
            )
    if "topics" in result:
        print("topics (threshold 0.5):")
        for name, r in result["topics"].items():
            print(
                f"  {name:<26} P {r['precision']:.3f}  R {r['recall']:.3f}  F1 {r['f1']:.3f}  n={int(r['support'])}"
            )
