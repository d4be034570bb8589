"""README.md and docs/data.md name the shipped datasets that `SHIPPED_DATASETS` holds, and count them right."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from equipot.data.shipped import SHIPPED_DATASETS

ROOT = Path(__file__).resolve().parents[2]
NUMBER_WORDS = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


@pytest.mark.parametrize("page", ["README.md", "docs/data.md"])
def test_docs_name_and_count_every_shipped_dataset(page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    missing = [name for name in SHIPPED_DATASETS if f"`{name}`" not in text]
    assert not missing, f"{page} does not name {missing}"
    counts = re.findall(r"\b(three|four|five|six|seven|eight)\b (?:small labelled|reference) datasets", text)
    assert counts == [NUMBER_WORDS[len(SHIPPED_DATASETS)]], f"{page} counts the datasets as {counts}"
