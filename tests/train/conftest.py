"""Fixtures of the training tests; helpers live in ``train_helpers``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_helpers import write_molecules


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def molecules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_molecules(tmp_path_factory.mktemp("data") / "ch4.xyz")
