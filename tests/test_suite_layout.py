"""The test suite itself: test folders have no ``__init__.py``, so pytest imports each test
file by its basename (its default ``prepend`` import mode) and two files of one name in
different folders stop the whole collection."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).parent


def test_every_test_file_has_a_name_of_its_own() -> None:
    folders: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        folders[path.name].append(str(path.parent.relative_to(TESTS)))
    clashes = {name: places for name, places in folders.items() if len(places) > 1}
    assert not clashes, f"test files share a basename (rename one): {clashes}"
