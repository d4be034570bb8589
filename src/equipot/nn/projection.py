"""`IrrepsProjection`: node features -> any declared irreps, linearly and through products.

An output irrep can be read from the node features when the features contain it (a
linear map) or when a product of two of them contains it (a channel-wise Clebsch-Gordan
product of two linear mixes, e.g. ``1o x 1e -> 0o`` or ``1o x 2e -> 2o, 3o``). Anything
else is out of reach (`check_reachable`; `equipot.models.irreps_flow` also says what to
add to a model's hidden irreps).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from e3nn import o3
from torch import Tensor, nn

from ..o3.irreps import Irrep, irrep_name, irrep_products
from .coupling import FeatureCoupling, coupling_paths
from .layout import IrrepsLayout
from .linear import IrrepsLinear

__all__ = ["IrrepsProjection", "UnreachableIrrepsError", "check_reachable", "reachable_irreps"]


class UnreachableIrrepsError(ValueError):
    """A head asks for irreps that the node features cannot produce."""


def reachable_irreps(features: Iterable[Irrep]) -> set[Irrep]:
    """Irreps among ``features`` or in the product of two of them."""
    features = set(features)
    found = set(features)
    for a in features:
        for b in features:
            found.update(irrep_products(a, b))
    return found


def check_reachable(features: Iterable[Irrep], wanted: Iterable[Irrep], what: str, hint: str = "") -> None:
    """Raise `UnreachableIrrepsError` if some irrep of ``wanted`` is neither in ``features``
    nor in a product of two of them; the message names ``what`` (e.g. "head 'chirality'")."""
    missing = [ir for ir in dict.fromkeys(wanted) if ir not in reachable_irreps(features)]
    if missing:
        have = "+".join(irrep_name(ir) for ir in sorted(set(features), key=lambda ir: (ir[0], -ir[1])))
        raise UnreachableIrrepsError(
            f"{what} outputs {'+'.join(irrep_name(ir) for ir in missing)}, which node features carrying "
            f"{have} cannot produce, neither directly nor as a product of two of them{hint}"
        )


class IrrepsProjection(nn.Module):
    """``[n, C, layout.dim] -> [n, irreps_out.dim]`` (e3nn's flat order of ``irreps_out``).

    ``y = mix(linear(h) + CG(left(h), right(h)))``: a linear map picks the irreps present
    in the features, a channel-wise product of two linear mixes of the features (one
    learned weight per path and channel) reaches the others (and makes the map
    nonlinear), and a last linear map per irrep gives the requested multiplicities.
    With ``parity=False`` (an SO(3) model, all features labelled even) outputs are
    matched by ``l`` only. ``available`` are the irreps the features actually carry
    (default: all of ``layout``); `UnreachableIrrepsError` (naming ``what``) for irreps
    out of reach.
    """

    def __init__(
        self,
        layout: IrrepsLayout,
        irreps_out: o3.Irreps | str,
        parity: bool = True,
        what: str = "a head",
        available: Iterable[Irrep] | None = None,
    ):
        super().__init__()
        irreps_out = o3.Irreps(irreps_out)
        key = (lambda l, p: (l, p)) if parity else (lambda l, p: (l, 1))
        self.entries = [(mul, key(ir.l, ir.p)) for mul, ir in irreps_out if mul > 0]
        targets = tuple(dict.fromkeys(ir for _, ir in self.entries))
        check_reachable(layout.irreps if available is None else available, targets, what)
        multiplicity = {ir: sum(mul for mul, key_ in self.entries if key_ == ir) for ir in targets}
        target_layout = IrrepsLayout(targets, layout.channels)
        self.linear = IrrepsLinear(layout, target_layout)
        self.left, self.right = IrrepsLinear(layout, layout), IrrepsLinear(layout, layout)
        has_paths = bool(coupling_paths(layout, layout, targets))
        self.coupling = FeatureCoupling(layout, layout, target_layout) if has_paths else None
        num_paths = self.coupling.num_paths if self.coupling is not None else 0
        self.path_weights = nn.Parameter(torch.randn(layout.channels, num_paths) / max(num_paths, 1) ** 0.5)
        self.output_layout = IrrepsLayout(targets, max(multiplicity.values()))
        self.mix = IrrepsLinear(target_layout, self.output_layout)
        self.irreps_out = irreps_out

    def forward(self, features: Tensor) -> Tensor:
        n = features.shape[0]
        hidden = self.linear(features)
        if self.coupling is not None:
            weights = self.path_weights.expand(n, *self.path_weights.shape)
            hidden = hidden + self.coupling(self.left(features), self.right(features), weights)
        mixed = self.mix(hidden)  # [n, M, target dims]
        used = dict.fromkeys(self.output_layout.irreps, 0)
        blocks = []
        for mul, irrep in self.entries:
            block = self.output_layout.slices[self.output_layout.index(irrep)]
            start = used[irrep]
            used[irrep] += mul
            blocks.append(mixed[:, start : start + mul, block].reshape(n, -1))
        return torch.cat(blocks, dim=-1) if len(blocks) > 1 else blocks[0]
