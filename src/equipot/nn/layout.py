"""`IrrepsLayout`: node and edge features as ``[n, channels, dim]`` tensors.

equipot keeps every irrep of a feature at the same number of channels, so features are
stored channel-major: ``x[n, c, offset(l, p) + m]``. Compared with e3nn's flat
``[n, irreps.dim]`` layout this turns every tensor product into a batched matrix product
over channels, which is what makes the fast paths of `nn.coupling` possible.
"""

from __future__ import annotations

from dataclasses import dataclass

from e3nn import o3

__all__ = ["IrrepsLayout"]


@dataclass(frozen=True)
class IrrepsLayout:
    """An ordered list of irreps ``(l, p)`` sharing ``channels`` channels.

    ``dim`` is ``sum(2l + 1)``; ``slices[i]`` is where irrep ``i`` lives along the last axis.
    """

    irreps: tuple[tuple[int, int], ...]
    channels: int

    @classmethod
    def from_irreps(cls, irreps: o3.Irreps | str) -> IrrepsLayout:
        """From an e3nn string like ``"64x0e+64x1o"`` (all multiplicities equal)."""
        irreps = o3.Irreps(irreps)
        multiplicities = {mul for mul, _ in irreps}
        if len(multiplicities) != 1:
            raise ValueError(f"all irreps must have the same multiplicity, got {irreps}")
        return cls(tuple((ir.l, ir.p) for _, ir in irreps), multiplicities.pop())

    @classmethod
    def spherical_harmonics(cls, lmax: int, parity: bool = True) -> IrrepsLayout:
        """One channel of ``Y_0 .. Y_lmax`` (parity ``(-1)^l``, or all even without parity)."""
        return cls(tuple((l, (-1) ** l if parity else 1) for l in range(lmax + 1)), 1)

    @property
    def dim(self) -> int:
        return sum(2 * l + 1 for l, _ in self.irreps)

    @property
    def offsets(self) -> tuple[int, ...]:
        starts, position = [], 0
        for l, _ in self.irreps:
            starts.append(position)
            position += 2 * l + 1
        return tuple(starts)

    @property
    def slices(self) -> tuple[slice, ...]:
        return tuple(slice(start, start + 2 * l + 1) for start, (l, _) in zip(self.offsets, self.irreps))

    def index(self, irrep: tuple[int, int]) -> int:
        return self.irreps.index(irrep)

    def with_channels(self, channels: int) -> IrrepsLayout:
        return IrrepsLayout(self.irreps, channels)

    def to_e3nn(self) -> o3.Irreps:
        """The e3nn Irreps of one channel of this layout (for transforming features)."""
        return o3.Irreps([(1, (l, p)) for l, p in self.irreps])

    def __str__(self) -> str:
        names = "+".join(f"{l}{'e' if p == 1 else 'o'}" for l, p in self.irreps)
        return f"{self.channels}x({names})"
