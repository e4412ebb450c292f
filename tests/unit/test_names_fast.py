"""The torch-free backbone names `validate` checks first agree with what the installed packages build."""

from __future__ import annotations

from reportgen.config import names


def test_static_names_equal_the_installed_registries() -> None:
    from reportgen.models import baselines, lite
    from reportgen.models.backbones import torchvision_classifiers

    assert sorted(names.TORCHVISION_CLASSIFIERS) == sorted(torchvision_classifiers()), \
        "torchvision's models changed: update reportgen/config/names.py from torchvision.models.list_models()"
    assert set(names.LITE) == set(lite.VARIANTS)
    assert set(names.BASELINES) == set(baselines.BUILDERS)


def test_close_names_suggest_and_fold_case() -> None:
    assert names.close_names("resnt18")[0] == "resnet18"
    assert names.close_names("ResNet18") == ["resnet18"]
