"""Building blocks: radial bases and cutoffs, interactions, products, gates, readouts.

Features are ``[n, channels, dim]`` tensors described by an `IrrepsLayout`.
"""

from .block import InteractionBlock, node_layout
from .coupling import EdgeCoupling, FeatureCoupling, coupling_paths
from .density import DensityReadout
from .edges import EdgeContext
from .gate import GatedNonlinearity
from .interaction import Interaction, RadialMLP
from .layout import IrrepsLayout
from .linear import DenseIrrepsLinear, IrrepsLinear, use_dense_linears
from .product import ProductBasis
from .projection import IrrepsProjection, UnreachableIrrepsError
from .radial import BesselBasis, PolynomialEnvelope
from .readout import LinearReadout, NonLinearReadout
from .scatter import scatter_sum

__all__ = [
    "BesselBasis",
    "DenseIrrepsLinear",
    "DensityReadout",
    "EdgeContext",
    "EdgeCoupling",
    "FeatureCoupling",
    "GatedNonlinearity",
    "Interaction",
    "InteractionBlock",
    "IrrepsLayout",
    "IrrepsLinear",
    "IrrepsProjection",
    "LinearReadout",
    "NonLinearReadout",
    "PolynomialEnvelope",
    "ProductBasis",
    "RadialMLP",
    "UnreachableIrrepsError",
    "coupling_paths",
    "node_layout",
    "scatter_sum",
    "use_dense_linears",
]
