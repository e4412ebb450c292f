"""The data section shows the data: class shares with the shift warning, the sample-image grid and the
augmentation preview, in the HTML and PDF rendered from stores the real runner wrote."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reportgen.describe import checks
from reportgen.describe.persist import ensure_description
from reportgen.report import render_report
from reportgen.report.context import build_context
from reportgen.report.format import count, dec, pct
from reportgen.store import load_run

# Two pipelines: fine-tune with the "medical" preset, frozen with "flips" (a preview each).
AUG_EXTRA = """augment = "medical"

[overrides.strategy.frozen]
augment = "flips"
"""


@pytest.fixture(scope="module")
def aug_store(tmp_path_factory) -> Path:
    from realstore import build_store

    return build_store(tmp_path_factory.mktemp("aug-store"), name="aug", strategies='["finetune", "frozen"]',
                       seeds="[0]", epochs=1, n_train=64, extra=AUG_EXTRA)


def _figures(run_dir: Path, lang: str = "en") -> list:
    run = load_run(run_dir)
    ctx = build_context(run, ensure_description(run), lang)
    return [blk for sec in ctx.sections for blk in sec.blocks if getattr(blk, "kind", "") == "figure"]


def test_class_shares_table_and_shift_sentence_follow_the_counts(rendered) -> None:
    run = load_run(rendered["run"])
    facts = run.datasets["pneumoniamnist"]
    # Header words are no-wrap spans (a header breaks only between words): compare the text, not the markup.
    en, zh = (re.sub(r'<span class="w">([^<]*)</span>', r"\1", rendered[k]) for k in ("en", "zh"))
    assert "class shares are from training (total variation distance, TVD)" in en and "TVD vs train" in en
    for split in ("train", "val", "test"):
        info = facts.splits[split]
        for k in info.counts:
            # Hand-computed share of the split, as the table prints it.
            assert f'>{count(k)}<span class="sub">{pct(k / info.n)}%</span>' in en, (split, k)
    for split in ("val", "test"):
        shift = checks.split_shift(facts, split)
        assert f">{dec(shift['tvd'])}<" in en
        name = {"val": "validation", "test": "test"}[split]
        warned = f"the class shares of the {name} split differ from training by TVD {dec(shift['tvd'])}" in en
        assert warned == shift["shifted"], (split, shift)
        title = {"val": "Validation class mix differs from training", "test": "Test class mix differs from training"}
        assert (title[split] in en) == shift["shifted"]  # the same threshold in the findings section
    # PneumoniaMNIST's test split has 37.5 % normal, its training split 25.8 %: TVD > 0.10.
    assert checks.split_shift(facts, "test")["shifted"]
    assert "警告：類別比例偏移" in zh and "測試集的類別比例與訓練集不同" in zh


def test_sample_grid_is_in_both_languages(rendered) -> None:
    en, zh = rendered["en"], rendered["zh"]
    for html, caption in ((en, "Sample images of PneumoniaMNIST: 4 per class"), (zh, "的樣本影像：每個類別")):
        figs = [m for m in re.finditer(r'<figure class="figure wide" id="fig-\d+"[^>]*>\s*<img src="([^"]+)" alt="[^"]*"[^>]*>'
                                       r'\s*<figcaption><span class="label">[^<]+</span> ([^<]+)</figcaption>', html)
                if caption in m.group(2)]
        assert len(figs) == 1, caption
        assert figs[0].group(1).startswith("data:image/png;base64,") and len(figs[0].group(1)) > 10_000
    assert "enlarged 3× with nearest neighbour" in en and "datasets/pneumoniamnist/samples.json" in en


def test_sample_grid_and_one_preview_per_pipeline_in_the_pdf(aug_store: Path, tmp_path: Path) -> None:
    run_dir = Path(shutil.copytree(aug_store, tmp_path / "aug"))
    figs = _figures(run_dir)
    kinds = [f.job[0] for f in figs]
    assert kinds.count("samples") == 1 and kinds.count("augpreview") == 2
    previews = [f for f in figs if f.job[0] == "augpreview"]
    assert sorted("medical" in f.caption for f in previews) == [False, True]
    assert any("flips" in f.caption and "Fixed feature extractor" in f.caption for f in previews)
    for f in previews:  # every image of the preview is a file of the store, as the loader resolved it
        for row in f.job[1]["rows"]:
            assert len(row["files"]) == 1 + 4 and all((run_dir / p.rel).is_file() for p in row["files"])

    written = render_report(run_dir, lang="both", pdf=True)
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    for key, words in (("pdf:en", ("Sample images of PneumoniaMNIST", "Data augmentation preview for",
                                   "pipeline: medical", "pipeline: flips", "TVD vs train")),
                       ("pdf:zh-TW", ("的樣本影像", "的資料增強預覽", "與訓練集的 TVD"))):
        text = subprocess.run(["pdftotext", str(written[key]), "-"], capture_output=True, text=True,
                              check=True).stdout
        flat = re.sub(r"\s+", " ", text)
        for w in words:
            assert w in flat, (key, w)
    if shutil.which("pdfimages"):
        listing = subprocess.run(["pdfimages", "-list", str(written["pdf:en"])], capture_output=True, text=True,
                                 check=True).stdout
        sizes = [tuple(map(int, line.split()[3:5])) for line in listing.splitlines()[2:]]
        # The two image grids are drawn at 200 dpi over the full 7.2-inch width.
        assert sum(1 for w, _ in sizes if w == 1440) >= 3, sizes


def test_an_index_cannot_point_outside_its_folder_or_through_a_link(tmp_path: Path) -> None:
    from reportgen.errors import StoreError
    from reportgen.store.images import StoreImage, image_ref

    folder = tmp_path / "datasets" / "d" / "samples"
    folder.mkdir(parents=True)
    assert image_ref(tmp_path, folder, "../../../secret.png") is None
    assert image_ref(tmp_path, folder, ".hidden.png") is None
    assert image_ref(tmp_path, folder, "train-0-0.png").rel == "datasets/d/samples/train-0-0.png"
    (tmp_path / "outside.png").write_bytes(b"x")
    (folder / "train-0-1.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(StoreError, match="symbolic link"):
        image_ref(tmp_path, folder, "train-0-1.png")
    # O_NOFOLLOW: a link made after loading is never read through either.
    assert StoreImage(path=folder / "train-0-1.png", rel="datasets/d/samples/train-0-1.png", stamp="").read() is None
