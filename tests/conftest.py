"""Suite-wide settings: one torch thread (tests use tiny models, where thread start-up
costs more than it gains, and a loaded 2-core machine makes 2 threads much slower)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
