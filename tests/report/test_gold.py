"""Gold test: the rendered fixture report equals tests/gold/*.html after scrubbing volatile parts.

Regenerate after an intended change with ``REPORTGEN_UPDATE_GOLD=1 pytest tests/report/test_gold.py``
and review the diff like code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

GOLD = Path(__file__).resolve().parents[1] / "gold"

SCRUB = [
    (re.compile(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+"), "data:image/FIGURE"),
    (re.compile(r"data:font/[a-z0-9+]+;base64,[A-Za-z0-9+/=]+"), "data:font/EMBEDDED"),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(\+\d{2}:\d{2}|Z)?"), "TIMESTAMP"),
    (re.compile(r"(torch|torchvision|Python|reportgen version)(</td><td[^>]*>)[0-9][0-9a-z.+]*"), r"\1\2VERSION"),
]


def scrub(html: str) -> str:
    for pattern, repl in SCRUB:
        html = pattern.sub(repl, html)
    return html


@pytest.mark.parametrize(("lang", "key"), [("en", "en"), ("zh-TW", "zh")])
def test_rendered_html_matches_gold(rendered, lang: str, key: str) -> None:
    gold = GOLD / f"report.{lang}.html"
    actual = scrub(rendered[key])
    if os.environ.get("REPORTGEN_UPDATE_GOLD") == "1":
        gold.parent.mkdir(parents=True, exist_ok=True)
        gold.write_text(actual, encoding="utf-8")
    assert gold.is_file(), f"{gold} is missing; run with REPORTGEN_UPDATE_GOLD=1 to create it"
    expected = gold.read_text(encoding="utf-8")
    if actual != expected:
        exp_lines, act_lines = expected.splitlines(), actual.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(exp_lines, act_lines)) if a != b),
                     min(len(exp_lines), len(act_lines)))
        pytest.fail(f"{gold.name} differs at line {first + 1}:\n gold:   {exp_lines[first:first + 1]}\n actual: "
                    f"{act_lines[first:first + 1]}\n(REPORTGEN_UPDATE_GOLD=1 regenerates after an intended change)")
