"""`IrrepsLinear`: the dense single-product form (`DenseIrrepsLinear`) equals the per-irrep products and is equivariant."""

from __future__ import annotations

import pytest
import torch
from e3nn import o3

from torch import nn

from equipot.nn import DenseIrrepsLinear, IrrepsLayout, IrrepsLinear, use_dense_linears

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
    dense_linear = DenseIrrepsLinear.sharing_weights_of(linear)
    dense = dense_linear(x)
    torch.testing.assert_close(dense, blockwise, rtol=1e-12, atol=1e-12)

    rotation = o3.rand_matrix(dtype=torch.float64) * -1  # a rotation times the inversion
    d_in = _irreps(layout_in).D_from_matrix(rotation)
    d_out = _irreps(layout_out).D_from_matrix(rotation)
    torch.testing.assert_close(dense_linear(x @ d_in.T), dense @ d_out.T, rtol=1e-10, atol=1e-12)


def test_dense_form_trains_the_same_weights() -> None:
    """Gradients reach the per-irrep weights through the dense weight as through the products."""
    torch.manual_seed(1)
    linear = IrrepsLinear(LAYOUT_IN, LAYOUT_OUT).double()
    x = torch.randn(4, LAYOUT_IN.channels, LAYOUT_IN.dim, dtype=torch.float64)
    gradients = []
    for form in (linear, DenseIrrepsLinear.sharing_weights_of(linear)):
        linear.zero_grad()
        (form(x) ** 2).sum().backward()
        gradients.append([w.grad.clone() for w in linear.weights])
    for blockwise, dense in zip(*gradients):
        torch.testing.assert_close(dense, blockwise, rtol=1e-12, atol=1e-12)


def test_use_dense_linears_swaps_every_map_in_place_and_back() -> None:
    """The compiled runner's switch: every map of a model becomes dense (same weights, same
    state-dict keys, same outputs), and ``dense=False`` restores the per-irrep form."""
    torch.manual_seed(2)
    model = nn.Sequential(IrrepsLinear(LAYOUT_IN, LAYOUT_OUT), nn.ModuleList([IrrepsLinear(LAYOUT_OUT, LAYOUT_IN)])).double()
    x = torch.randn(3, LAYOUT_IN.channels, LAYOUT_IN.dim, dtype=torch.float64)
    expected, keys = model[1][0](model[0](x)), list(model.state_dict())
    use_dense_linears(model)
    assert all(isinstance(m, DenseIrrepsLinear) for m in (model[0], model[1][0]))
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(model[1][0](model[0](x)), expected, rtol=1e-12, atol=1e-12)
    use_dense_linears(model, dense=False)
    assert not any(isinstance(m, DenseIrrepsLinear) for m in model.modules())
    torch.testing.assert_close(model[1][0](model[0](x)), expected, rtol=1e-12, atol=1e-12)
