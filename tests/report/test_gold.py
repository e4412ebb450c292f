"""Gold files of the rendered report, as coverage.py keeps them: a change of layout or wording is a reviewed diff.

The session's real store (written by the runner, tests/realstore.py) is rendered by ``reportgen render --lang
both`` in a fresh process (which must not import torch), then scrubbed of what depends on the moment and the
machine — dates, versions, the git commit, timings and memory, paths, embedded image and font bytes — and
compared with ``tests/gold/report.<lang>.html``. ``REPORTGEN_UPDATE_GOLD=1`` rewrites the gold files instead;
review their diff like code.

Decimal values are kept only as their format (``74.4`` → ``<n.1>``): the trained weights, and so every metric,
depend on the CPU's kernels and torch's thread count (one thread and two give different last digits on the
same machine), while what this test guards is the layout and the wording. The numbers themselves are guarded by
``reportgen check`` and the truth tests, which recompute them from the stored predictions.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLD = REPO / "tests" / "gold"
UPDATE = os.environ.get("REPORTGEN_UPDATE_GOLD") == "1"

_RENDER = """
import json, sys
from click.testing import CliRunner
from reportgen.cli import cli
r = CliRunner().invoke(cli, ["render", sys.argv[1], "--lang", "both"])
print(json.dumps({"code": r.exit_code, "out": r.output, "torch": sorted(m for m in ("torch", "torchvision")
                                                                        if m in sys.modules)}))
"""


def _machine_values() -> dict[str, str]:
    """Long exact strings of this machine that the report quotes. Not package versions as strings: a short
    one ("67.0") is also a percentage in a table; the dotted-version pattern below takes those."""
    return {platform.platform(): "<platform>"}


# A table column whose header names a unit of time or memory ("Time (s)", "記憶體 (MB)") holds measurements.
_MEASURED_HEADER = re.compile(r"\((?:s|ms|min|h|秒|分鐘|[kKMG]i?B)\)$")
_TABLE = re.compile(r"<table>.*?</table>", re.S)
_ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
_CELL = re.compile(r"(<t[dh][^>]*>)(.*?)(</t[dh]>)", re.S)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _scrub_measured_columns(table: str) -> str:
    head = re.search(r"<thead>(.*?)</thead>", table, re.S)
    if not head:
        return table
    cols = {i for i, m in enumerate(_CELL.finditer(head.group(1))) if _MEASURED_HEADER.search(_text(m.group(2)))}
    if not cols:
        return table

    def row(m: re.Match[str]) -> str:
        cells = iter(range(10_000))
        return "<tr>" + _CELL.sub(lambda c: c.group(1) + ("<measured>" if next(cells) in cols else c.group(2))
                                  + c.group(3), m.group(1)) + "</tr>"

    body_start = head.end()
    return table[:body_start] + _ROW.sub(row, table[body_start:])


# (pattern, replacement), applied in order. Each says what it hides and why it varies.
SCRUB: list[tuple[re.Pattern[str], Any]] = [
    # Embedded PNG figures and fonts: bytes vary with matplotlib/font versions; their presence is what counts.
    (re.compile(r"data:([\w/+.-]+);base64,[A-Za-z0-9+/=]+"), r"data:\1;base64,…"),
    # Timestamps of the run and its cells, and today's date.
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)?"), "<timestamp>"),
    # The git commit the run was made from ("n/a" outside a git checkout, e.g. an unpacked archive).
    (re.compile(r"\b[0-9a-f]{40}\b"), "<commit>"),
    (re.compile(r"(Git commit</td><td[^>]*>)n/a(?=</td>)"), r"\1<commit>"),
    # A cell id ends in a hash of its resolved config, which holds the data's absolute path.
    (re.compile(r"(-s\d+)-[0-9a-f]{8}\b"), r"\1-<hash>"),
    # Durations, memory and throughput: measured, never the same twice.
    (re.compile(r"\b\d[\d,]*(?:\.\d+)?(?: |\u00a0)?(?:ms|s|min|h|秒|分鐘|小時|[kKMG]i?B)(?![\w])"), "<measured>"),
    # Any other dotted version (a package the list above does not name).
    (re.compile(r"\b\d+\.\d+\.\d+(?:[+][\w.]+)?\b"), "<version>"),
    # Trained values (metrics, losses, confidence bounds): their format stays, their digits vary by machine.
    (re.compile(r"(?<![\w.])\d+\.(\d+)(?!\w|\.\d)"), lambda m: f"<n.{len(m.group(1))}>"),
]


def scrub(html: str, *, paths: dict[str, str]) -> str:
    """The report's text without what depends on the moment, the machine or where the files are."""
    for value, label in sorted({**paths, **_machine_values()}.items(), key=lambda kv: -len(kv[0])):
        if value:
            html = html.replace(value, label)
    for pattern, repl in SCRUB:
        html = pattern.sub(repl, html)
    html = _TABLE.sub(lambda m: _scrub_measured_columns(m.group(0)), html)
    # The stylesheet is report.css inlined (reviewed there): a hash here still shows that it changed.
    html = re.sub(r"(<style[^>]*>)(.*?)(</style>)", lambda m: f"{m.group(1)}/* sha256 "
                  f"{hashlib.sha256(m.group(2).encode()).hexdigest()[:16]} */{m.group(3)}", html, flags=re.S)
    return re.sub(r"<measured>(?:\s*<measured>)+", "<measured>", html)  # "1 min 5 s": one measurement


def _diff(gold: str, got: str, name: str) -> str:
    lines = difflib.unified_diff(gold.splitlines(keepends=True), got.splitlines(keepends=True),
                                 fromfile=f"tests/gold/{name}", tofile=f"rendered {name}", n=2)
    text = "".join(lines)
    return text if len(text) < 20_000 else text[:20_000] + "\n… (diff cut; rerun with REPORTGEN_UPDATE_GOLD=1 " \
        "and read `git diff tests/gold`)"


@pytest.fixture(scope="module")
def scrubbed(real_store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import shutil

    run = Path(shutil.copytree(real_store, tmp_path_factory.mktemp("gold") / "store"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "REPORTGEN_CACHE_DIR": str(tmp_path_factory.getbasetemp() / "tensor-cache")}
    proc = subprocess.run([sys.executable, "-c", _RENDER, str(run)], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["code"] == 0, res["out"]
    assert res["torch"] == [], f"render imported {res['torch']}"
    paths = {str(run): "<store>", str(real_store.parent.parent): "<built>", str(REPO): "<repo>",
             str(tmp_path_factory.getbasetemp()): "<tmp>", str(Path.home()): "<home>"}
    return {lang: scrub((run / name).read_text(encoding="utf-8"), paths=paths)
            for lang, name in (("en", "report.en.html"), ("zh-TW", "report.html"))}


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_the_rendered_report_matches_its_gold_file(scrubbed: dict[str, str], lang: str) -> None:
    name = f"report.{lang}.html"
    gold = GOLD / name
    if UPDATE:
        GOLD.mkdir(parents=True, exist_ok=True)
        gold.write_text(scrubbed[lang], encoding="utf-8")
        return
    assert gold.is_file(), f"no gold file {gold}: run REPORTGEN_UPDATE_GOLD=1 pytest {__file__}"
    expected = gold.read_text(encoding="utf-8")
    assert scrubbed[lang] == expected, ("the rendered report differs from its gold file; if the change is "
                                        "intended, rerun with REPORTGEN_UPDATE_GOLD=1 and review the diff:\n"
                                        + _diff(expected, scrubbed[lang], name))


def test_the_scrubber_hides_only_what_varies() -> None:
    html = ('<td>2026-12-06T13:59:45.751620+00:00</td><td>23.5 s</td><td>1,093.5 MB</td><td>12 秒</td>'
            '<img src="data:image/png;base64,iVBORw0KGgo="><td>0.8600</td><td>62.5%</td><td>2 / 2</td>'
            '<td>06c7fdcc6f8085c522abc90229d02059c651ccac</td><td>/x/store/cells</td><td>val_auc 0.8679</td>'
            '<td>pneumoniamnist-efficientnet_lite0-frozen-s1-0d43da08</td>'
            '<tr><td class="">Git commit</td><td class="">n/a</td></tr>')
    out = scrub(html, paths={"/x/store": "<store>"})
    assert scrub("<style>body { color: red }</style>", paths={}) != scrub("<style>body{}</style>", paths={})
    assert scrub("<style>\nbody { color: red }\n</style>", paths={}).count("\n") == 0
    assert out == ('<td><timestamp></td><td><measured></td><td><measured></td><td><measured></td>'
                   '<img src="data:image/png;base64,…"><td><n.4></td><td><n.1>%</td><td>2 / 2</td>'
                   '<td><commit></td><td><store>/cells</td><td>val_auc <n.4></td>'
                   '<td>pneumoniamnist-efficientnet_lite0-frozen-s1-<hash></td>'
                   '<tr><td class="">Git commit</td><td class=""><commit></td></tr>')
    table = ('<table><thead><tr><th>Epoch</th><th><span class="w">Time</span> <span class="w">(s)</span></th>'
             '<th>Val AUC</th></tr></thead><tbody><tr><td>1</td><td>13.5</td><td>0.829</td></tr>'
             '<tr><td>2</td><td>7.6</td><td>0.860</td></tr></tbody></table><p>1 min 5 s</p>'
             '<p>0.82–0.86, ± 4.3</p><p>loss: 0.7530.</p>')
    assert scrub(table, paths={}) == (
        '<table><thead><tr><th>Epoch</th><th><span class="w">Time</span> <span class="w">(s)</span></th>'
        '<th>Val AUC</th></tr></thead><tbody><tr><td>1</td><td><measured></td><td><n.3></td></tr>'
        '<tr><td>2</td><td><measured></td><td><n.3></td></tr></tbody></table><p><measured></p>'
        '<p><n.2>–<n.2>, ± <n.1></p><p>loss: <n.4>.</p>')
