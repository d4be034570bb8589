"""Suite-wide settings: one torch thread (tests use tiny models, where thread start-up
costs more than it gains, and a loaded 2-core machine makes 2 threads much slower), a
private compile cache, and a guard that fails any test which leaves torch's global state
(default dtype, thread count, grad mode, inductor and dynamo settings) or the environment changed."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import pytest
import torch

#: set by Lightning's seed_everything (which `fit` calls) to pass the seed to its workers,
#: and by pytest itself
# set by Lightning's seeding, by pytest, and by torch itself the first time its inductor
# and CUDA modules load (whichever test imports them first): not a test's doing
_ENVIRONMENT_NOT_CHECKED = {
    "PL_GLOBAL_SEED",
    "PL_SEED_WORKERS",
    "PYTEST_CURRENT_TEST",
    "PYTORCH_NVML_BASED_CUDA_CHECK",
    "TORCHINDUCTOR_CACHE_DIR",
}


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


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


def _global_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch default dtype": torch.get_default_dtype(),
        "torch thread count": torch.get_num_threads(),
        "torch grad mode": torch.is_grad_enabled(),
        "environment": {k: v for k, v in os.environ.items() if k not in _ENVIRONMENT_NOT_CHECKED},
    }
    for name in ("torch._inductor.config", "torch._dynamo.config"):
        config = sys.modules.get(name)
        if config is not None:  # read through getattr: a setting deleted by a bad undo reads as missing
            with warnings.catch_warnings():  # reading a deprecated setting warns; the guard only compares
                warnings.simplefilter("ignore", FutureWarning)
                state[name] = {key: getattr(config, key, _MISSING) for key in config.get_config_copy()}
    return state


@pytest.fixture(autouse=True)
def _global_state_restored():
    """A test that changes global state must restore it, with the owner's own context manager
    (``torch._inductor.config.patch``, ``monkeypatch.setenv``, try/finally for thread counts):
    otherwise later tests depend on the order the files run in."""
    before = _global_state()
    yield
    after = _global_state()
    changed = [name for name in before if name in after and before[name] != after[name]]
    for name in changed:
        if isinstance(before[name], dict):
            keys = sorted(k for k in before[name].keys() | after[name].keys()
                          if before[name].get(k, _MISSING) != after[name].get(k, _MISSING))
            detail = ", ".join(
                f"{k}: {before[name].get(k, _MISSING)!r} -> {after[name].get(k, _MISSING)!r}" for k in keys[:5]
            )
        else:
            detail = f"{before[name]!r} -> {after[name]!r}"
        pytest.fail(f"this test left the {name} changed ({detail}); restore it with the owner's context manager")
