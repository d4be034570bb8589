"""equipot: E(3)-equivariant neural network interatomic potentials."""

__version__ = "0.1.0"

from .calculator import EquipotCalculator  # noqa: E402
from .config import ModelConfig  # noqa: E402
from .data import AtomicGraph, graph_from_atoms  # noqa: E402
from .models import EquivariantPotential, ModelOutput  # noqa: E402
from .models.allocator import keep_freed_memory  # noqa: E402
from .models.export import export_model  # noqa: E402
from .models.io import load_model, save_model  # noqa: E402

__all__ = [
    "AtomicGraph",
    "EquipotCalculator",
    "EquivariantPotential",
    "ModelConfig",
    "ModelOutput",
    "__version__",
    "export_model",
    "graph_from_atoms",
    "keep_freed_memory",
    "load_model",
    "save_model",
]
