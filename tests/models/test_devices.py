"""`checked_device`: the one check of a ``device`` before a model is loaded, exported or
wrapped in a calculator."""

from __future__ import annotations

import pytest
import torch

from equipot import EquipotCalculator, EquivariantPotential
from equipot.models.devices import checked_device


def test_cpu_passes() -> None:
    assert checked_device("cpu") == torch.device("cpu")
    assert checked_device(torch.device("cpu")) == torch.device("cpu")


def test_cuda_without_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^device 'cuda:1': no CUDA device is available to PyTorch \(torch .*\); use the CPU"):
        checked_device("cuda:1")


def test_cuda_index_beyond_the_devices(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert checked_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError, match=r"^device 'cuda:2': PyTorch sees 2 CUDA device\(s\), numbered 0 to 1; pick one"):
        checked_device("cuda:2")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", ""])
def test_unknown_device_name(name) -> None:
    with pytest.raises(ValueError, match=rf"^device '{name}' is not a PyTorch device; use cpu, cuda, cuda:N"):
        checked_device(name)


def test_calculator_checks_its_device(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = EquivariantPotential(species=["H"], cutoff=2.0, num_channels=4, lmax=1, hidden_lmax=1, num_layers=1)
    with pytest.raises(ValueError, match="no CUDA device is available"):
        EquipotCalculator(model, device="cuda")
