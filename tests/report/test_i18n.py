"""Every catalog domain has the same keys and the same {placeholders} in every language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reportgen import i18n

I18N = Path(i18n.__file__).parent


@pytest.mark.parametrize("domain", sorted(i18n.domains()))
def test_domain_has_same_keys_and_placeholders_in_every_language(domain: str) -> None:
    catalogs = {lang: json.loads((I18N / f"{domain}.{lang}.json").read_text(encoding="utf-8")) for lang in i18n.LANGS}
    keys = {lang: set(c) for lang, c in catalogs.items()}
    first = i18n.LANGS[0]
    for lang in i18n.LANGS[1:]:
        assert keys[lang] == keys[first], f"{domain}: keys differ: {sorted(keys[lang] ^ keys[first])}"
    for key in keys[first]:
        ph = {lang: i18n.placeholders(catalogs[lang][key]) for lang in i18n.LANGS}
        assert all(p == ph[first] for p in ph.values()), f"{domain}: {key}: placeholders differ: {ph}"


def test_report_domain_exists_and_is_namespaced() -> None:
    assert "report" in i18n.domains()
    en = json.loads((I18N / "report.en.json").read_text(encoding="utf-8"))
    assert en and all(k.startswith("report.") for k in en)


def test_zh_tw_uses_taiwan_terms() -> None:
    zh = json.loads((I18N / "report.zh-TW.json").read_text(encoding="utf-8"))
    text = "".join(zh.values())
    for term in ("微調", "固定特徵擷取器", "從頭訓練", "混淆矩陣", "準確率", "精確率", "召回率", "資料增強", "類別不平衡", "參數量"):
        assert term in text, term
    for simplified in ("数据", "训练", "模型选择", "准确率"):
        assert simplified not in text, simplified
