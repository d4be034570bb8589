"""The device a model runs on, checked once where a model is loaded, exported or wrapped.

``torch.device("cuda")`` succeeds on a machine without CUDA; the first tensor moved there
fails deep inside PyTorch (``AssertionError: Torch not compiled with CUDA enabled``).
`checked_device` says it up front, in one line, with what to use instead.
"""

from __future__ import annotations

import torch

__all__ = ["checked_device"]


def checked_device(device: str | torch.device) -> torch.device:
    """``device`` ("cpu", "cuda", "cuda:1", "mps", ...) as a `torch.device` that this
    PyTorch can use.

    Raises ValueError for a name PyTorch does not know, a backend (CUDA, MPS, XPU) that is
    not available, or a device index beyond the devices present.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device {str(device)!r} is not a PyTorch device; use cpu, cuda, cuda:N (N-th GPU) or mps"
        ) from error
    kind = resolved.type
    if kind in ("cpu", "meta"):
        return resolved
    if kind == "mps":
        available, count = torch.backends.mps.is_available(), 1
    else:
        backend = getattr(torch, kind, None)  # torch.cuda, torch.xpu, ...
        if backend is None or not hasattr(backend, "is_available"):
            return resolved  # a backend we cannot ask: PyTorch answers when it is used
        available = backend.is_available()
        count = backend.device_count() if available and hasattr(backend, "device_count") else 0
    name = kind.upper()
    if not available:
        build = f"torch {torch.__version__}"
        if kind == "cuda" and torch.version.cuda is None:
            build += ", built without CUDA"
        raise ValueError(
            f"device {str(device)!r}: no {name} device is available to PyTorch ({build}); "
            "use the CPU (--device cpu, device='cpu')"
        )
    if resolved.index is not None and resolved.index >= count:
        raise ValueError(
            f"device {str(device)!r}: PyTorch sees {count} {name} device(s), numbered 0 to {count - 1}; "
            f"pick one of them (e.g. {kind}:0) or the CPU"
        )
    return resolved
