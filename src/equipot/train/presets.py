"""Ready-made training configs: the README demo's."""

from __future__ import annotations

import os
from pathlib import Path

from ..config import TrainConfig
from ..data.shipped import GFN2_XTB_ISOLATED_ATOM_ENERGIES

__all__ = ["demo_config"]


def demo_config(output_dir: str | os.PathLike, minutes: float = 4.0) -> TrainConfig:
    """The demo's training config: 1100 ethanol frames for training, 100 for validation,
    300 held out for testing; a 32-channel model trained for ``minutes``, with GFN2-xTB's
    isolated-atom energies as E0 (the ethanol frames cannot separate them)."""
    return TrainConfig.model_validate(
        {
            "data": {"train_file": "shipped:ethanol", "n_valid": 100, "n_test": 300},
            "model": {"num_channels": 32, "lmax": 2, "num_layers": 2, "correlation": 3, "cutoff": 5.0},
            "loss": {"energy_weight": 1.0, "forces_weight": 10.0},
            "optimizer": {"name": "amsgrad", "lr": 0.01},
            "scheduler": {"name": "plateau", "factor": 0.5, "patience": 3},
            "atomic_energies": dict(GFN2_XTB_ISOLATED_ATOM_ENERGIES),
            "batch_size": 10,
            "max_epochs": 1000,
            "max_time_minutes": minutes,
            "output_dir": str(Path(output_dir) / "run"),
        }
    )
