"""The README's demo: ``sentinel run`` on the shipped config shows alert cards within a minute."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEVELS = ("蓝色预警", "黄色预警", "橙色预警", "红色预警")


def test_demo_shows_escalating_alert_cards(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        SENTINEL_STORAGE__URL=f"sqlite:///{tmp_path}/demo.db",
        SENTINEL_METRICS__LISTEN="127.0.0.1:0",
    )
    log = tmp_path / "demo.log"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sentinel.cli", "run", "--config", str(ROOT / "config" / "sentinel.toml")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    seen: dict[str, float] = {}
    try:
        while time.monotonic() - started < 150 and "橙色预警" not in seen:
            assert proc.poll() is None, log.read_text(encoding="utf-8")[-3000:]
            text = log.read_text(encoding="utf-8")
            for level in LEVELS:
                if level in text and level not in seen:
                    seen[level] = time.monotonic() - started
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    text = log.read_text(encoding="utf-8")
    assert code == 0, text[-3000:]
    assert seen, f"no alert card in 150 s:\n{text[-3000:]}"
    first = min(seen.values())
    assert first < 90, f"first card after {first:.0f}s"  # README promises about a minute; CI is slower
    assert "黄色预警" in seen and "橙色预警" in seen, seen  # the crisis escalates
    assert re.search(r"▸ .+：", text), "cards show sample posts"
    assert "sentinel stopped" in text
