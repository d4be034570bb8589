"""An on-disk cache of AOTInductor packages, keyed by what was compiled.

Compiling a traced model takes far longer than loading the compiled package
(docs/performance.md has the times). The key is a hash of the exported program (its code, its
weights and constants, its symbolic size ranges), the inductor options, the torch version,
the device and the thread count, so a changed model, a changed equipot or a changed torch
compile anew.

The cache lives in ``$EQUIPOT_CACHE_DIR/compiled`` (default ``~/.cache/equipot/compiled``,
or under ``$XDG_CACHE_HOME``). A package there is a shared library that runs when loaded,
like inductor's own cache in ``/tmp/torchinductor_<user>``: it is the user's directory,
written only by this code.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch

from ..atomic_files import atomic_write

__all__ = ["cache_directory", "cached_package", "program_key"]


def cache_directory() -> Path:
    """Where compiled packages are kept (created on first use)."""
    root = os.environ.get("EQUIPOT_CACHE_DIR")
    if not root:
        root = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "equipot")
    return Path(root) / "compiled"


def program_key(exported: torch.export.ExportedProgram, options: dict[str, object]) -> str:
    """sha256 of everything that decides the compiled code: the program's code, tensors
    and size ranges, the inductor ``options``, the torch version, the device, and the
    number of threads (inductor writes it into the C++ loops)."""
    digest = hashlib.sha256()
    for text in (
        exported.graph_module.code,
        repr(sorted(exported.range_constraints.items(), key=str)),
        repr(sorted(options.items())),
        torch.__version__,
        f"threads={torch.get_num_threads()}",
    ):
        digest.update(text.encode())
    tensors = {**exported.state_dict, **exported.constants}
    for name in sorted(tensors):
        tensor = tensors[name]
        if not isinstance(tensor, torch.Tensor):  # a script object: named, not hashed
            digest.update(name.encode())
            continue
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}:{tensor.device}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cached_package(exported: torch.export.ExportedProgram, options: dict[str, object]) -> object:
    """AOTInductor's loaded package for ``exported`` (``aoti_load_package``), from the
    cache or compiled now and kept there. A cached file that does not load (truncated,
    from another build) is compiled again and replaced."""
    directory = cache_directory()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{program_key(exported, options)}.pt2"
    if path.exists():
        try:
            return torch._inductor.aoti_load_package(str(path))
        except Exception as error:  # noqa: BLE001 - any unreadable package is rebuilt
            warnings.warn(f"compiled package {path} does not load ({type(error).__name__}); compiling it again", RuntimeWarning, stacklevel=2)
    # a killed run or a parallel one leaves no half file under the final name
    atomic_write(path, lambda stream: torch._inductor.aoti_compile_and_package(exported, package_path=stream, inductor_configs=options))
    return torch._inductor.aoti_load_package(str(path))
