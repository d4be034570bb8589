"""Building blocks: radial bases and cutoffs, interactions, products, gates, readouts."""

from .gate import GatedNonlinearity
from .interaction import Interaction
from .product import ProductBasis
from .radial import BesselBasis, PolynomialEnvelope
from .readout import LinearReadout, NonLinearReadout
from .scatter import scatter_sum

__all__ = [
    "BesselBasis",
    "GatedNonlinearity",
    "Interaction",
    "LinearReadout",
    "NonLinearReadout",
    "PolynomialEnvelope",
    "ProductBasis",
    "scatter_sum",
]
