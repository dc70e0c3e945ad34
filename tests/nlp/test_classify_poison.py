"""`sentinel classify` keeps going past poison lines (issue 19): each is an error line in place."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from sentinel.nlp.commands import register

from .conftest import MODEL_DIR


def test_huge_numbers_nan_and_invalid_utf8_do_not_stop_the_stream() -> None:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """Stand-in for the real CLI root."""

    good = json.dumps({"text": "发货太慢"}, ensure_ascii=False).encode()
    lines = [
        b'{"text": "x", "reposts": ' + b"9" * 5000 + b"}",  # int() refuses 4,300+ digits
        b'{"text": "\xe8\xb4\xa8\xff\xe9\x87\x8f", "score": NaN, "big": 1e400}',
        good,
    ]
    result = CliRunner().invoke(app, ["classify", "--model", str(MODEL_DIR)], input=b"\n".join(lines) + b"\n")
    assert result.exit_code == 0, result.output

    def strict(name: str) -> None:
        raise ValueError(name)

    out = [json.loads(line, parse_constant=strict) for line in result.stdout.splitlines()]
    assert len(out) == 3
    assert out[0]["line"] == 1 and "number" in out[0]["error"]
    assert out[1]["text"] == "质\ufffd量" and "sentiment" in out[1]  # the stray byte, replaced
    assert out[1]["score"] is None and out[1]["big"] == 1.7976931348623157e308
    assert "sentiment" in out[2]
    assert "2 posts, 1 malformed" in result.stderr
