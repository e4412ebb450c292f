"""The store's no-follow helpers: links below the run folder are refused, the run folder itself may be one."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportgen.errors import StoreError
from reportgen.store.safepath import check_inside, check_output, check_store, check_writable_dir


def test_check_inside_refuses_a_link_at_any_depth(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "cells" / "a").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (run / "cells" / "b").symlink_to(tmp_path / "elsewhere")
    assert check_inside(run, run / "cells" / "a" / "x.json") == run / "cells" / "a" / "x.json"
    assert check_inside(run, run / "not" / "yet" / "there.json")
    with pytest.raises(StoreError, match="symbolic link"):
        check_inside(run, run / "cells" / "b" / "x.json")
    with pytest.raises(StoreError, match="outside"):
        check_inside(run, tmp_path / "elsewhere" / "x.json")


def test_check_store_allows_a_linked_run_folder_but_no_link_inside(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "cells").mkdir(parents=True)
    (tmp_path / "run").symlink_to(real)
    check_store(tmp_path / "run")  # runs -> /scratch/runs is the user's choice
    (real / "cells" / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(StoreError, match="dangling"):
        check_store(tmp_path / "run")


def test_writable_dir_and_output_checks(tmp_path: Path) -> None:
    check_writable_dir(tmp_path / "new" / "deeper", what="results folder")  # creatable: fine, nothing created
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        check_writable_dir(tmp_path / "file" / "sub", what="results folder")
    (tmp_path / "dir.html").mkdir()
    with pytest.raises(StoreError, match="is a folder"):
        check_output(tmp_path / "dir.html")
