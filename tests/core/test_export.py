from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.config import StorageConfig
from sentinel.post import ScoredPost, parse_post
from sentinel.store import SqlStore

from .conftest import T0, record


def test_export_writes_scored_posts_oldest_first_with_filters(tmp_path: Path) -> None:
    store = SqlStore(StorageConfig(url=f"sqlite:///{tmp_path}/s.db"))
    texts = ["艾克美的客服太差了", "今天天气不错", "ACME new phone is great", "艾克美招聘啦"]
    batch = [
        (
            ScoredPost(
                parse_post(record(i, text=t)),
                0.9 if i == 0 else 0.2,
                "negative" if i == 0 else "positive",
                {"service_failure": 0.8} if i == 0 else {},
            ),
            "s",
        )
        for i, t in enumerate(texts)
    ]

    async def fill() -> None:  # the CLI runs its own event loop, so the test must not
        await store.open()
        await store.write_batch(list(reversed(batch)), [], model="m", now=T0)
        await store.close()

    asyncio.run(fill())
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path}/s.db"\n[[watch]]\nname = "acme"\n'
        "query = '(艾克美 OR acme) AND NOT 招聘'\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(app, ["export", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == texts  # oldest first, whatever the insert order
    assert rows[0]["sentiment"] == {"label": "negative", "negative": 0.9}
    assert rows[0]["topics"] == [{"label": "service_failure", "score": 0.8}]
    result = runner.invoke(app, ["export", "--config", str(cfg), "--watch", "acme"])
    assert [json.loads(x)["text"] for x in result.stdout.splitlines()] == [texts[0], texts[2]]
    since = (T0.replace(second=1)).isoformat()
    result = runner.invoke(app, ["export", "--config", str(cfg), "--since", since])
    assert len(result.stdout.splitlines()) == 3
    result = runner.invoke(app, ["export", "--config", str(cfg), "--since", "2026-11-28T00:00:00"])
    assert result.exit_code == 2  # no offset: refused, not guessed
