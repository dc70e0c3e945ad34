"""``sentinel report --out`` never writes over a file or an earlier report unasked (issue 19)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sentinel.cli import app


def _report(tmp_path: Path, out: Path, *more: str) -> tuple[int, str]:
    config = tmp_path / "sentinel.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "r.db"}"\n\n[[watch]]\nname = "acme"\nquery = "艾克美"\n',
        encoding="utf-8",
    )
    args = ["report", "--watch", "acme", "--from", "2026-11-28T08:00:00+08:00"]
    args += ["--to", "2026-11-28T20:00:00+08:00", "--out", str(out), "--config", str(config), *more]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_report_refuses_a_file_and_an_earlier_report_without_force(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("mine", encoding="utf-8")
    code, out = _report(tmp_path, notes)
    assert code == 2 and "is a file" in out and len(out.strip().splitlines()) == 1
    code, out = _report(tmp_path, notes, "--force")
    assert code == 2 and notes.read_text(encoding="utf-8") == "mine"

    review = tmp_path / "review"
    code, out = _report(tmp_path, review)
    assert code == 0, out
    (review / "report.html").write_text("edited by hand", encoding="utf-8")
    code, out = _report(tmp_path, review)
    assert code == 2 and "--force" in out
    assert (review / "report.html").read_text(encoding="utf-8") == "edited by hand"
    code, out = _report(tmp_path, review, "--force")
    assert code == 0, out
    assert (review / "report.html").read_text(encoding="utf-8") != "edited by hand"
