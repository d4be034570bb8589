"""SO(2) layers: each commutes with rotations of the plane, linear maps never mix modes
(Schur: a complex scalar, i.e. a 2 x 2 rotation-scaling block, per mode), and the
convolution's gradients pass gradcheck."""

from __future__ import annotations

import math

import pytest
import torch

from equipot.nn.so2 import SO2Convolution, SO2Linear, SO2NormGate, circular_harmonics, rotate_modes

MMAX = 2


def random_features(n: int, channels: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, channels, MMAX + 1, dtype=torch.complex128, generator=generator)
    return torch.cat([features[..., :1].real.to(torch.complex128), features[..., 1:]], dim=-1)


def rotation_matrix(angle: float) -> torch.Tensor:
    return torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=torch.float64)


def test_circular_harmonics_rotate_by_m_times_the_angle() -> None:
    vectors = torch.randn(5, 2, dtype=torch.float64)
    angle = 0.83
    rotated = circular_harmonics(vectors @ rotation_matrix(angle).T, MMAX)
    assert torch.allclose(rotated, rotate_modes(circular_harmonics(vectors, MMAX)[:, None], angle)[:, 0], atol=1e-12)
    assert torch.allclose(circular_harmonics(torch.tensor([[0.0, 2.0]], dtype=torch.float64), 1)[0, 1], torch.tensor(1j, dtype=torch.complex128))


@pytest.mark.parametrize("layer", [SO2Linear(4, 3, MMAX), SO2NormGate(4, MMAX)], ids=["linear", "gate"])
def test_pointwise_layers_commute_with_rotations(layer) -> None:
    layer = layer.double()
    features = random_features(6, 4)
    for angle in (0.3, 2.1, -1.7):
        with torch.no_grad():
            assert torch.allclose(layer(rotate_modes(features, angle)), rotate_modes(layer(features), angle), atol=1e-12)
            assert torch.all(layer(features)[..., 0].imag == 0)


def test_the_linear_map_keeps_modes_apart_with_one_complex_scalar_per_mode() -> None:
    torch.manual_seed(0)
    layer = SO2Linear(3, 2, MMAX, bias=False).double()
    features = random_features(1, 3)

    def real_map(x: torch.Tensor) -> torch.Tensor:
        return torch.view_as_real(layer(torch.view_as_complex(x)))

    jacobian = torch.autograd.functional.jacobian(real_map, torch.view_as_real(features))
    # [1, out, m_out, 2, 1, in, m_in, 2] -> blocks between modes
    blocks = jacobian[0, :, :, :, 0]  # [out, m_out, re/im, in, m_in, re/im]
    for m_out in range(MMAX + 1):
        for m_in in range(MMAX + 1):
            block = blocks[:, m_out, :, :, m_in, :]
            if m_out != m_in:
                assert torch.all(block == 0), (m_out, m_in)
    for m in range(1, MMAX + 1):
        block = blocks[:, m, :, :, m, :]  # [out, 2, in, 2]: [[a, -b], [b, a]]
        assert torch.allclose(block[:, 0, :, 0], block[:, 1, :, 1])
        assert torch.allclose(block[:, 0, :, 1], -block[:, 1, :, 0])
        assert block[:, 1, :, 0].abs().max() > 0  # a genuine rotation part, not only scaling


def edges_of(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = torch.ones(n, n, dtype=torch.bool) & ~torch.eye(n, dtype=torch.bool)
    receivers, senders = pairs.nonzero(as_tuple=True)
    return senders, receivers


def test_the_convolution_commutes_with_rotations_and_ignores_translations() -> None:
    torch.manual_seed(1)
    convolution = SO2Convolution(4, MMAX, cutoff=5.0).double()
    positions = torch.randn(6, 2, dtype=torch.float64)
    features = random_features(6, 4, seed=2)
    senders, receivers = edges_of(6)
    with torch.no_grad():
        out = convolution(features, positions[senders] - positions[receivers], senders, receivers)
        for angle in (0.4, -2.5):
            moved = positions @ rotation_matrix(angle).T + torch.tensor([3.0, -1.0], dtype=torch.float64)
            rotated = convolution(rotate_modes(features, angle), moved[senders] - moved[receivers], senders, receivers)
            assert torch.allclose(rotated, rotate_modes(out, angle), atol=1e-12)
    assert out[..., 1:].abs().max() > 1e-3  # the modes above 0 carry something


def test_modes_couple_only_by_the_product_rule() -> None:
    """Invariant inputs (m = 0 only) and one edge at angle theta: mode m of the output is
    (real radial weight) x e^(i m theta), nothing else."""
    torch.manual_seed(2)
    convolution = SO2Convolution(2, MMAX, cutoff=5.0).double()
    features = torch.zeros(2, 2, MMAX + 1, dtype=torch.complex128)
    features[..., 0] = 1.0
    theta = 0.7
    vectors = torch.tensor([[math.cos(theta), math.sin(theta)]], dtype=torch.float64)
    with torch.no_grad():
        out = convolution(features, vectors, torch.tensor([0]), torch.tensor([1]))[1]
    phases = out / circular_harmonics(vectors, MMAX)[0]
    assert torch.allclose(phases.imag, torch.zeros_like(phases.imag), atol=1e-12)


def test_the_convolution_passes_gradcheck() -> None:
    torch.manual_seed(3)
    convolution = SO2Convolution(2, 1, cutoff=5.0).double()
    senders, receivers = edges_of(3)
    positions = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    features = torch.randn(3, 2, 2, dtype=torch.complex128)
    features = torch.cat([features[..., :1].real.to(torch.complex128), features[..., 1:]], -1).requires_grad_()

    def real_output(positions: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return torch.view_as_real(convolution(features, positions[senders] - positions[receivers], senders, receivers))

    assert torch.autograd.gradcheck(real_output, (positions, features))
