"""Irreps utilities: node-feature irreps, SO(3) relabelling, and the selection rule of
tensor products."""

from __future__ import annotations

from e3nn import o3

__all__ = ["Irrep", "irrep_name", "irrep_products", "natural_irreps", "scalar_irreps", "so3_irreps"]


def natural_irreps(num_channels: int, lmax: int) -> o3.Irreps:
    """``C x (0e + 1o + 2e + ...)`` up to ``lmax``: the irreps of polar tensors."""
    return o3.Irreps([(num_channels, (l, (-1) ** l)) for l in range(lmax + 1)])


def so3_irreps(irreps: o3.Irreps) -> o3.Irreps:
    """The same irreps with every parity set to even.

    Rotation matrices of an irrep do not depend on its parity, so a network whose irreps are
    all labelled even is still SO(3)-equivariant, but its tensor products may couple, e.g.,
    vectors to vectors through the cross product and features need not change sign under
    inversion: it can tell mirror images apart.
    """
    return o3.Irreps([(mul, (ir.l, 1)) for mul, ir in o3.Irreps(irreps)])


def scalar_irreps(irreps: o3.Irreps) -> o3.Irreps:
    """The ``0e`` part of ``irreps``."""
    return o3.Irreps([(mul, ir) for mul, ir in o3.Irreps(irreps) if ir.l == 0 and ir.p == 1])


#: an irrep as ``(l, p)``: degree ``l`` and parity ``p`` (+1 even, -1 odd)
Irrep = tuple[int, int]


def irrep_products(a: Irrep, b: Irrep) -> list[Irrep]:
    """Irreps in the tensor product of ``a`` and ``b`` (the selection rule): ``l`` from
    ``|l_a - l_b|`` to ``l_a + l_b``, parity ``p_a * p_b``. ``(1, -1), (1, -1)`` ->
    ``[(0, 1), (1, 1), (2, 1)]``."""
    return [(l, a[1] * b[1]) for l in range(abs(a[0] - b[0]), a[0] + b[0] + 1)]


def irrep_name(irrep: Irrep) -> str:
    """``(1, -1)`` -> ``'1o'``."""
    return f"{irrep[0]}{'e' if irrep[1] == 1 else 'o'}"
