"""One reader: no module under ``reportgen/report/`` opens, lists or stats a results-store file itself.

The store's loader (``reportgen.store.load``) reads every record of a run once, typed and through the link
checks; sections and figure workers receive those objects. This test parses every module of the report
package and fails on any call that reads a file (``open``, ``read_text``, ``json.load``, ``np.load``,
``Image.open`` on a path, the store's per-file readers ...), lists a folder (``glob``, ``iterdir``,
``os.walk``) or stats a path (``exists``, ``is_file``, ``stat`` ...), except in the modules named in
ALLOWED, each for the calls and the reason given there: they touch their own output files, never a
record of the store. Calling the one reader (``load_run``) is what the report is meant to do.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import reportgen.report

REPORT = Path(reportgen.report.__file__).parent

# Calls that read a file's content (or a folder's listing): attribute or plain names.
READS = {
    "open", "fdopen", "read_text", "read_bytes", "load", "loadtxt", "genfromtxt", "fromfile", "imread",
    "read_csv", "read_json", "read_table", "reader", "DictReader", "glob", "rglob", "iterdir", "walk",
    "listdir", "scandir",
    # the store's per-file readers: the report gets their results from load_run instead
    "read_record", "read_json_object", "read_epochs", "read_predictions", "load_cell", "damaged_json",
}
# Calls that ask the file system about a path.
STATS = {"stat", "lstat", "exists", "is_file", "is_dir", "is_symlink", "access", "readlink", "isfile", "isdir",
         "getsize", "getmtime"}
# Calls that look like reads but are not: json.loads / pickle.loads of a string in memory are not listed above.

ALLOWED: dict[str, tuple[set[str], str]] = {
    "render.py": ({"damaged_json", "is_file", "is_dir", "is_symlink"},
                  "checks its output paths (--out, report.html/.pdf/.docx), the template folders and that run.json "
                  "exists; asks the store whether the derived analysis/*.json are damaged (issue 17 part D owns them)"),
    "drafts.py": ({"read_text", "exists"}, "reads back the draft answers it wrote itself, to keep an edited one"),
    "fonts.py": ({"read_bytes", "is_file"}, "reads CJK font files: the system's, and the subset it wrote"),
    "source.py": ({"is_file", "is_dir"},
                  "checks the experiment TOML given to render, or recorded in run.json (a user's file, not the store)"),
    "tempdirs.py": ({"stat", "is_symlink", "scandir", "exists", "is_dir"},
                    "creates and cleans render's own temp folders under <run>/.render-tmp"),
    "figures/cache.py": ({"read_bytes", "is_file", "is_symlink", "is_dir", "glob"},
                         "reads, checks and prunes render's own figure cache, <run>/figures/*.png"),
    "analysis.py": ({"read_json", "read_record", "stat", "is_file"},
                    "reads and writes the derived analysis/*.json (issue 17 part D moves this into describe/)"),
}


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _in_memory(call: ast.Call) -> bool:
    """``Image.open(io.BytesIO(png))``: decoding bytes already in memory is not file I/O."""
    return bool(call.args) and isinstance(call.args[0], ast.Call) and _name(call.args[0].func) == "BytesIO"


def file_calls(source: str) -> list[tuple[int, str]]:
    """(line, call name) of every call in ``source`` that reads, lists or stats a file."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name == "load" and not node.args:  # PIL's im.load() decodes an image already opened
            continue
        if name in READS | STATS and not (name == "open" and _in_memory(node)):
            found.append((node.lineno, name))
    return found


def _modules() -> list[Path]:
    return sorted(REPORT.rglob("*.py"))


def test_the_check_catches_store_reads() -> None:
    """The checker itself: each way a section could read the store is caught; in-memory decoding is not."""
    snippet = '''
from pathlib import Path
import json, numpy as np
from PIL import Image
def section(b, c):
    open(c.path / "explain.json")
    (c.path / "layers.json").read_text()
    json.load(fh)
    np.load(c.path / "x.npz")
    Image.open(c.path / "explain" / "test_0.png")
    store.read_record(ExplainRecord, c.path / "explain.json")
    (b.run.path / "candidates.json").is_file()
    list((b.run.path / "cells").glob("*"))
    Image.open(io.BytesIO(png))
    json.loads(text)
'''
    names = [n for _, n in file_calls(snippet)]
    assert names == ["open", "read_text", "load", "load", "open", "read_record", "is_file", "glob"]


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(REPORT)))
def test_no_report_module_touches_a_store_file(module: Path) -> None:
    rel = str(module.relative_to(REPORT))
    allowed, _reason = ALLOWED.get(rel, (set(), ""))
    bad = [(line, name) for line, name in file_calls(module.read_text(encoding="utf-8")) if name not in allowed]
    assert not bad, (f"reportgen/report/{rel} does file I/O itself at {bad}: get the data from the loaded run "
                     "(reportgen.store.load) instead, or, for the report's own output files, allow it in ALLOWED "
                     "with a reason")


def test_sections_and_figure_drawing_are_allowed_nothing() -> None:
    assert not [k for k in ALLOWED if k.startswith("sections/") or k.startswith("figures/draw")]
    assert (REPORT / "sections").is_dir() and list((REPORT / "figures").glob("draw_*.py"))
