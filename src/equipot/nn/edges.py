"""`EdgeContext`: what every interaction layer needs to know about the edges of one graph."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["EdgeContext"]


@dataclass(frozen=True)
class EdgeContext:
    """The edges of a graph as the interaction layers see them, computed once per call.

    - ``vectors`` [n_edges, 3], Å: ``r_sender - r_receiver`` (from each receiver to its sender's periodic image, as `data.edge_vectors`);
    - ``harmonics`` [n_edges, layout_sh.dim]: spherical harmonics of the edge directions;
    - ``radial`` [n_edges, num_basis]: the radial basis of the edge lengths;
    - ``envelope`` [n_edges]: the smooth cutoff (1 at r = 0, 0 from the cutoff on);
    - ``senders``, ``receivers`` [n_edges]: atom indices; messages flow sender -> receiver;
    - ``avg_num_neighbors`` []: message sums are divided by it;
    - ``first_order_only``: the result will be differentiated at most once (energy and
      forces, no ``create_graph``), so large graphs may sum their messages in chunks of
      edges (`equipot.nn.chunked_messages`), keeping memory linear in atoms.
    """

    vectors: Tensor
    harmonics: Tensor
    radial: Tensor
    envelope: Tensor
    senders: Tensor
    receivers: Tensor
    avg_num_neighbors: Tensor
    first_order_only: bool = False

    @property
    def n_edges(self) -> int:
        return int(self.senders.shape[0])

    @property
    def per_edge(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(harmonics, radial, envelope)``: the per-edge inputs of a message function."""
        return self.harmonics, self.radial, self.envelope
