"""`InteractionBlock`, the layer a potential stacks, and `node_layout`, its node features."""

from __future__ import annotations

from typing import TYPE_CHECKING

from e3nn import o3
from torch import Tensor, nn

from ..o3 import natural_irreps, so3_irreps
from .edges import EdgeContext
from .gate import GatedNonlinearity
from .interaction import Interaction
from .layout import IrrepsLayout
from .linear import IrrepsLinear
from .product import ProductBasis

if TYPE_CHECKING:
    from ..config import ModelConfig

__all__ = ["InteractionBlock", "node_layout"]


def node_layout(config: ModelConfig) -> IrrepsLayout:
    """Layout of the hidden node features: scalars first, then the gated l > 0 irreps.

    ``config.hidden_irreps`` if given, else ``num_channels x (0e + 1o + ...)`` up to
    ``hidden_lmax``; every parity even when ``config.parity`` is false (an SO(3) model).
    """
    irreps = (
        o3.Irreps(config.hidden_irreps)
        if config.hidden_irreps is not None
        else natural_irreps(config.num_channels, config.hidden_lmax)
    )
    if not config.parity:
        irreps = so3_irreps(irreps)
    layout = IrrepsLayout.from_irreps(irreps)
    ordered = sorted(dict.fromkeys(layout.irreps), key=lambda ir: (ir[0] > 0, ir[0], -ir[1]))
    return IrrepsLayout(tuple(ordered), layout.channels)


class InteractionBlock(nn.Module):
    """Messages -> many-body product -> gated nonlinearity, plus a linear skip connection.

    ``features`` [n_atoms, C, layout_in.dim], ``species`` [n_atoms] and the graph's
    `EdgeContext` -> [n_atoms, C, layout_node.dim]. Sizes (radial basis and MLP width,
    correlation order, number of species) come from ``config``.
    """

    def __init__(self, layout_in: IrrepsLayout, layout_sh: IrrepsLayout, layout_node: IrrepsLayout, config: ModelConfig):
        super().__init__()
        self.interaction = Interaction(
            layout_in, layout_sh, layout_node, config.num_radial_basis, config.radial_hidden
        )
        self.product = ProductBasis(layout_node, config.correlation, len(config.species))
        self.nonlinearity = GatedNonlinearity(layout_node, layout_node)
        self.skip = IrrepsLinear(layout_in, layout_node)

    def forward(self, features: Tensor, species: Tensor, edges: EdgeContext) -> Tensor:
        messages = self.interaction(features, edges)
        return self.nonlinearity(self.product(messages, species)) + self.skip(features)
