"""The same irreps machinery for more physics: a two-nucleon potential with its tensor
force (`nuclear`), a model of planar point sets with SO(2)-equivariant layers (`planar`).

Layer: above `models` (beside `inference`, `longrange`, `uq`); may import models, nn,
o3, data and config. These models take their own inputs (relative positions and spins,
2-D point sets) rather than an `AtomicGraph`, so they are not `Potential`s.
"""

from .fitting import FitHistory, fit_full_batch
from .nuclear import ToyNucleonReference, TwoNucleonPotential, sample_configurations, tensor_operator
from .planar import PlanarPointSetModel, PointSets, planar_edges, point_set_targets, sample_point_sets

__all__ = [
    "FitHistory",
    "PlanarPointSetModel",
    "PointSets",
    "ToyNucleonReference",
    "TwoNucleonPotential",
    "fit_full_batch",
    "planar_edges",
    "point_set_targets",
    "sample_configurations",
    "sample_point_sets",
    "tensor_operator",
]
