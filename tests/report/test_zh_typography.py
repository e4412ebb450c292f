"""zh-TW typography as a careful Taiwanese student types it, checked on a report rendered from the real store.

One spacing rule: a space between Han characters and Latin letters or digits, none between two Han characters,
none beside full-width punctuation. Catalog messages put spaces around placeholders for Latin values; a value
that is itself Chinese used to leave "微調 依" and "與 驗證集 AUC" in the prose.
"""

from __future__ import annotations

import html.parser
import re

import pytest

from reportgen.i18n import zh_spacing

HAN = "\u3400-\u4dbf\u4e00-\u9fff"
FULL = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
RULES = {
    "space between two Han characters or full-width punctuation": re.compile(f"[{HAN}{FULL}] +[{HAN}{FULL}]"),
    "space after full-width punctuation": re.compile(f"[{FULL}] +\\S"),
    "Han character touching a Latin letter or digit": re.compile(f"[{HAN}][A-Za-z0-9]|[A-Za-z0-9%][{HAN}]"),
    "ASCII punctuation right after a Han character": re.compile(f"[{HAN}][,:;?!]"),
}


class _Prose(html.parser.HTMLParser):
    """Text of the report's own prose: paragraphs, captions, list items, findings; not code, not tables'
    cells (numbers and names), not the author's notes or the appended experiment file (the user's words)."""

    BLOCKS = {"p", "li", "figcaption", "caption", "h1", "h2", "h3", "h4", "dt", "dd", "nav"}
    SKIP = {"code", "pre", "style", "script", "td", "th"}

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._buf: list[str] = []
        self._skip = 0
        self._author = 0
        self._stack: list[bool] = []

    def handle_starttag(self, tag, attrs):
        author = any(k == "class" and v and ("author" in v or "note" in v or "answer" in v) for k, v in attrs)
        self._stack.append(author)
        self._author += author
        if tag in self.SKIP:
            self._skip += 1
        if tag in self.BLOCKS or any(k == "class" and v == "badge" for k, v in attrs):
            self._flush()  # a severity badge is its own box, not part of the finding's title

    def handle_endtag(self, tag):
        if self._stack:
            self._author -= self._stack.pop()
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        if tag in self.BLOCKS or tag == "span":
            self._flush()

    def handle_data(self, data):
        if not self._skip and not self._author:
            self._buf.append(data)

    def _flush(self):
        text = re.sub(r"\s+", " ", "".join(self._buf)).strip()
        if text:
            self.texts.append(text)
        self._buf = []


def _prose(html_text: str) -> list[str]:
    p = _Prose()
    p.feed(html_text)
    p._flush()
    return p.texts


@pytest.mark.parametrize("rule", list(RULES))
def test_zh_report_prose_follows_one_spacing_rule(rendered, rule: str) -> None:
    bad = []
    for text in _prose(rendered["zh"]):
        for m in RULES[rule].finditer(text):
            bad.append(text[max(0, m.start() - 25): m.end() + 25])
    assert not bad, f"{rule}: {len(bad)} places, e.g. " + " | ".join(bad[:6])


@pytest.mark.parametrize("raw, typed", [
    ("損失、準確率與 驗證集 AUC", "損失、準確率與驗證集 AUC"),
    ("測試集 macro-F1對可訓練參數量", "測試集 macro-F1 對可訓練參數量"),
    ("EfficientNet-Lite0／微調 依 val_auc 在第3個", "EfficientNet-Lite0／微調依 val_auc 在第 3 個"),
    ("共 6 項發現。 每項", "共 6 項發現。每項"),
    ("占 62.5%的影像", "占 62.5% 的影像"),
    ("（sha1 + 64-bit）", "（sha1 + 64-bit）"),  # Latin text inside full-width brackets keeps its own spaces
])
def test_zh_spacing_rule(raw: str, typed: str) -> None:
    assert zh_spacing(raw) == typed


# One term per concept (a careful student does not switch words mid-report): the preferred term, and the variants
# the catalogs once mixed with it. 實驗組 alone means a treatment group in Chinese experimental design.
TERMS = {"占": "佔", "切分": "分割", "實驗組合": r"組實驗|實驗組(?!合)|(?<![{\w])cells?(?![}\w/])",
         "損失": r"(?<![{\w])loss(?![}\w])", "各實驗組合": r"各組(?!合)"}


@pytest.mark.parametrize("preferred", list(TERMS))
def test_zh_catalogs_use_one_term_per_concept(preferred: str) -> None:
    from reportgen.i18n import catalog

    banned = re.compile(TERMS[preferred])
    bad = {k: v for k, v in catalog("zh-TW").items() if isinstance(v, str) and banned.search(v)}
    assert not bad, f"use {preferred}: {bad}"


RAW_METRIC = re.compile(r"\b(?:val|train|test)_(?:macro_f1|auc|acc|loss)\b")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_prose_words_metric_names(rendered, lang: str) -> None:
    """"the best validation macro-F1", never "the best val_macro_f1" (a key of epochs.csv) in a caption or finding."""
    bad = [text for text in _prose(rendered[lang]) if RAW_METRIC.search(text) and not text.startswith(("Source", "來源"))]
    assert not bad, bad[:5]
