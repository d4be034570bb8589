"""`IrrepsLinear`: the dense single-product form equals the per-irrep products and is equivariant."""

from __future__ import annotations

import pytest
import torch
from e3nn import o3

from equipot.nn import IrrepsLayout, IrrepsLinear

# input with repeated irreps (two 0e, two 1o), an irrep the output lacks (2e), and an output
# irrep absent from the input (1e, which stays zero)
LAYOUT_IN = IrrepsLayout(((0, 1), (1, -1), (0, 1), (2, 1), (1, -1)), 3)
LAYOUT_OUT = IrrepsLayout(((0, 1), (1, -1), (1, 1)), 4)


def _irreps(layout: IrrepsLayout) -> o3.Irreps:
    return o3.Irreps([(1, (l, p)) for l, p in layout.irreps])


@pytest.mark.parametrize("layouts", [(LAYOUT_IN, LAYOUT_OUT), (LAYOUT_OUT, LAYOUT_IN), (LAYOUT_IN, LAYOUT_IN)])
def test_dense_form_equals_per_irrep_products_and_is_equivariant(layouts) -> None:
    layout_in, layout_out = layouts
    torch.manual_seed(0)
    linear = IrrepsLinear(layout_in, layout_out).double()
    x = torch.randn(5, layout_in.channels, layout_in.dim, dtype=torch.float64)
    blockwise = linear(x)
    linear.dense = True
    dense = linear(x)
    torch.testing.assert_close(dense, blockwise, rtol=1e-12, atol=1e-12)

    rotation = o3.rand_matrix(dtype=torch.float64) * -1  # a rotation times the inversion
    d_in = _irreps(layout_in).D_from_matrix(rotation)
    d_out = _irreps(layout_out).D_from_matrix(rotation)
    torch.testing.assert_close(linear(x @ d_in.T), dense @ d_out.T, rtol=1e-10, atol=1e-12)


def test_dense_form_trains_the_same_weights() -> None:
    """Gradients reach the per-irrep weights through the dense weight as through the products."""
    torch.manual_seed(1)
    linear = IrrepsLinear(LAYOUT_IN, LAYOUT_OUT).double()
    x = torch.randn(4, LAYOUT_IN.channels, LAYOUT_IN.dim, dtype=torch.float64)
    gradients = []
    for dense in (False, True):
        linear.dense = dense
        linear.zero_grad()
        (linear(x) ** 2).sum().backward()
        gradients.append([w.grad.clone() for w in linear.weights])
    for blockwise, dense in zip(*gradients):
        torch.testing.assert_close(dense, blockwise, rtol=1e-12, atol=1e-12)
