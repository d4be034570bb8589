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


@pytest.fixture(autouse=True, scope="session")
def _private_compile_cache(tmp_path_factory: pytest.TempPathFactory):
    """Compiled models go to a cache of this run, not the user's (`equipot.inference.compile_cache`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EQUIPOT_CACHE_DIR", str(tmp_path_factory.mktemp("equipot-cache")))
        yield
