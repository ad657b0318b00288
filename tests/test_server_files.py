"""Receipts files on the server (recommender/server_files.py): only files inside the data root, links included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.errors import InputError
from recommender.server_files import inside_root, list_server_files, resolve_in_root


@pytest.fixture
def tree(tmp_path):
    """A data root with files in and out of it, and links both ways."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "shop").mkdir(parents=True)
    outside.mkdir()
    (root / "shop" / "receipts.csv").write_text("receipt_id,sku\n1,A\n")
    (root / "top.csv.gz").write_bytes(b"\x1f\x8b")
    (outside / "secret.csv").write_text("receipt_id,sku\n9,Z\n")
    (root / "link-out.csv").symlink_to(outside / "secret.csv")  # a file link leading out
    (root / "dir-out").symlink_to(outside, target_is_directory=True)  # a folder link leading out
    (root / "link-in.csv").symlink_to(root / "shop" / "receipts.csv")  # a link that stays inside
    (root / "loop.csv").symlink_to(root / "loop.csv")
    (root / ".hidden.csv").write_text("x\n")
    (root / "runs").mkdir()
    (root / "runs" / "rules.csv").write_text("x\n")
    return root, outside


@pytest.mark.parametrize("name", [
    "../outside/secret.csv", "shop/../../outside/secret.csv", "shop/../../../etc/passwd", "..", ".", "",
    "/etc/passwd", "//etc/passwd", "~/secret.csv", "link-out.csv", "dir-out/secret.csv", "loop.csv", "shop",
    "missing.csv", "shop/receipts.csv\x00.txt", "\\..\\outside\\secret.csv",
])
def test_hostile_names_are_refused(tree, name):
    root, _ = tree
    with pytest.raises(InputError) as err:
        resolve_in_root(root, name)
    assert "outside" not in str(err.value).replace(name, "")  # nothing of what lies outside is told


def test_absolute_path_to_the_outside_file_is_refused(tree):
    root, outside = tree
    with pytest.raises(InputError):
        resolve_in_root(root, str(outside / "secret.csv"))
    with pytest.raises(InputError):  # even an absolute path inside the root: names are relative to it
        resolve_in_root(root, str(root / "shop" / "receipts.csv"))


def test_files_inside_are_resolved_to_their_real_path(tree):
    root, _ = tree
    real = (root / "shop" / "receipts.csv").resolve()
    assert resolve_in_root(root, "shop/receipts.csv") == real
    assert resolve_in_root(root, "shop/./../shop/receipts.csv") == real  # ".." that stays inside is fine
    assert resolve_in_root(root, "link-in.csv") == real


def test_listing_holds_only_files_inside(tree):
    root, _ = tree
    assert list_server_files(root) == ["link-in.csv", "shop/receipts.csv", "top.csv.gz"]
    for name in list_server_files(root):
        assert resolve_in_root(root, name).is_relative_to(root.resolve())


def test_a_link_swapped_after_the_choice_is_refused(tree):
    root, outside = tree
    chosen = resolve_in_root(root, "link-in.csv")
    assert inside_root(root, root / "link-in.csv") and inside_root(root, chosen)
    os.unlink(root / "link-in.csv")
    (root / "link-in.csv").symlink_to(outside / "secret.csv")
    assert not inside_root(root, root / "link-in.csv")
    with pytest.raises(InputError):
        resolve_in_root(root, "link-in.csv")


_PART = st.sampled_from(["..", ".", "shop", "receipts.csv", "outside", "secret.csv", "dir-out", "link-out.csv",
                         "link-in.csv", "", "/", "~"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(_PART, min_size=1, max_size=6), lead=st.sampled_from(["", "/", "./"]))
def test_any_name_resolves_inside_the_root_or_is_refused(tree, parts, lead):
    root, _ = tree
    name = lead + "/".join(parts)
    try:
        real = resolve_in_root(root, name)
    except InputError:
        return
    assert real.is_file() and real.is_relative_to(root.resolve()) and real != root.resolve()
