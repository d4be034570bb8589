"""Channel-wise Clebsch-Gordan couplings as dense batched matrix products.

Both products here couple each channel with itself (no channel mixing; that is left to
`IrrepsLinear`), with one learned weight per path and channel:

- `EdgeCoupling` (NequIP/MACE messages, e3nn's ``uvu``): neighbor features
  ``x[e, c, :]`` times edge harmonics ``Y[e, :]``, each path kept as its own output block.
- `FeatureCoupling` (the many-body product, e3nn's ``uuu``): ``a[n, c, :] x b[n, c, :]``,
  paths summed into the blocks of a target layout.

The Clebsch-Gordan coefficients (e3nn's real basis, `o3.wigner_3j`) are stored densely,
so a product is one or two matrix multiplications whatever the number of paths; all ops
are plain torch and support double backward (training on forces).
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import Tensor, nn

from ..o3.irreps import irrep_products
from .layout import IrrepsLayout

__all__ = ["EdgeCoupling", "FeatureCoupling", "coupling_paths"]


def coupling_paths(
    layout1: IrrepsLayout, layout2: IrrepsLayout, targets: tuple[tuple[int, int], ...]
) -> list[tuple[int, int, tuple[int, int]]]:
    """``(i1, i2, (l3, p3))`` for every coupling of irrep i1 with i2 whose result is in ``targets``."""
    return [
        (i1, i2, ir3)
        for i1, ir1 in enumerate(layout1.irreps)
        for i2, ir2 in enumerate(layout2.irreps)
        for ir3 in irrep_products(ir1, ir2)
        if ir3 in targets
    ]


def _coefficients(l1: int, l2: int, l3: int) -> Tensor:
    # component normalization: unit-variance inputs give unit-variance outputs
    return o3.wigner_3j(l1, l2, l3, dtype=torch.float64) * math.sqrt(2 * l3 + 1)


class EdgeCoupling(nn.Module):
    """``out[e, c, path block] = w[e, c, path] * CG(x[e, c, l1], Y[e, l2])``.

    ``x`` [n_edges, channels, layout_in.dim], ``Y`` [n_edges, layout_sh.dim], ``weights``
    [n_edges, channels, layout_out.dim] (the path weight repeated over each path's
    components: ``path_of_component`` maps components to paths) -> [n_edges, channels,
    layout_out.dim], where ``layout_out`` lists one irrep per path (`self.layout_out`).
    """

    def __init__(self, layout_in: IrrepsLayout, layout_sh: IrrepsLayout, targets: tuple[tuple[int, int], ...]):
        super().__init__()
        self.paths = coupling_paths(layout_in, layout_sh, targets)
        if not self.paths:
            raise ValueError(f"no coupling of {layout_in} with {layout_sh} reaches {targets}")
        self.layout_out = IrrepsLayout(tuple(ir3 for _, _, ir3 in self.paths), layout_in.channels)
        dense = torch.zeros(layout_sh.dim, layout_in.dim, self.layout_out.dim, dtype=torch.float64)
        path_of_component = torch.zeros(self.layout_out.dim, dtype=torch.long)
        for path, ((i1, i2, (l3, _)), out) in enumerate(zip(self.paths, self.layout_out.slices)):
            l1, l2 = layout_in.irreps[i1][0], layout_sh.irreps[i2][0]
            block = _coefficients(l1, l2, l3)  # [2l1+1, 2l2+1, 2l3+1]
            dense[layout_sh.slices[i2], layout_in.slices[i1], out] = block.permute(1, 0, 2)
            path_of_component[out] = path
        self.register_buffer("coefficients", dense.reshape(layout_sh.dim, -1).to(torch.get_default_dtype()))
        self.register_buffer("path_of_component", path_of_component)
        self.dim_in, self.dim_out = layout_in.dim, self.layout_out.dim

    @property
    def num_paths(self) -> int:
        return len(self.paths)

    def forward(self, x: Tensor, harmonics: Tensor, weights: Tensor) -> Tensor:
        n_edges, channels = x.shape[0], x.shape[1]
        # couple the harmonics with the CG tensor first: [n_edges, dim_in, dim_out]
        edge_matrices = (harmonics @ self.coefficients).view(n_edges, self.dim_in, self.dim_out)
        if self.dim_in == 1:  # scalar inputs (first layer): an outer product, not a matmul
            coupled = x * edge_matrices
        else:
            coupled = torch.bmm(x, edge_matrices)  # [n_edges, channels, dim_out]
        # weights come expanded over components: one same-shape multiply, faster (with
        # backward) than broadcasting per path block (docs/performance.md)
        return coupled * weights


class FeatureCoupling(nn.Module):
    """``out[n, c, :] = sum_paths w[n, c, path] * CG(a[n, c, l1], b[n, c, l2])`` into ``layout_out``.

    ``a`` [n, channels, layout1.dim], ``b`` [n, channels, layout2.dim], ``weights``
    [n, channels, num_paths] -> [n, channels, layout_out.dim]. Paths that land on the same
    output irrep are summed, scaled by ``1/sqrt(number of such paths)``.
    """

    def __init__(self, layout1: IrrepsLayout, layout2: IrrepsLayout, layout_out: IrrepsLayout):
        super().__init__()
        self.paths = coupling_paths(layout1, layout2, layout_out.irreps)
        if not self.paths:
            raise ValueError(f"no coupling of {layout1} with {layout2} reaches {layout_out}")
        fan_in = {ir3: sum(1 for *_, ir in self.paths if ir == ir3) for *_, ir3 in self.paths}
        path_dims = [2 * ir3[0] + 1 for *_, ir3 in self.paths]
        path_starts = [sum(path_dims[:k]) for k in range(len(path_dims))]
        dense = torch.zeros(layout1.dim, layout2.dim, sum(path_dims), dtype=torch.float64)
        collect = torch.zeros(sum(path_dims), layout_out.dim, dtype=torch.float64)
        path_of_component = torch.zeros(sum(path_dims), dtype=torch.long)
        for path, ((i1, i2, ir3), start, size) in enumerate(zip(self.paths, path_starts, path_dims)):
            block = slice(start, start + size)
            l1, l2 = layout1.irreps[i1][0], layout2.irreps[i2][0]
            dense[layout1.slices[i1], layout2.slices[i2], block] = _coefficients(l1, l2, ir3[0])
            collect[block, layout_out.slices[layout_out.index(ir3)]] = torch.eye(size) / math.sqrt(fan_in[ir3])
            path_of_component[block] = path
        default = torch.get_default_dtype()
        self.register_buffer("coefficients", dense.reshape(layout1.dim * layout2.dim, -1).to(default))
        self.register_buffer("collect", collect.to(default))
        self.register_buffer("path_of_component", path_of_component)

    @property
    def num_paths(self) -> int:
        return len(self.paths)

    def forward(self, a: Tensor, b: Tensor, weights: Tensor) -> Tensor:
        n, channels = a.shape[0], a.shape[1]
        outer = (a.unsqueeze(-1) * b.unsqueeze(-2)).reshape(n, channels, a.shape[2] * b.shape[2])
        per_path = (outer @ self.coefficients) * weights.index_select(2, self.path_of_component)
        return per_path @ self.collect
