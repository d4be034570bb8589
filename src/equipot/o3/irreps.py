"""Irreps utilities: node-feature irreps, SO(3) relabelling, channel-wise coupling paths."""

from __future__ import annotations

from e3nn import o3

__all__ = ["natural_irreps", "so3_irreps", "coupling_paths", "scalar_irreps"]


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


def coupling_paths(
    irreps_in1: o3.Irreps, irreps_in2: o3.Irreps, irreps_target: o3.Irreps, mode: str
) -> tuple[o3.Irreps, list[tuple[int, int, int, str, bool]]]:
    """Channel-wise tensor-product paths ``l1 x l2 -> l3`` whose output irrep is in ``irreps_target``.

    ``mode="uvu"``: one output block per path, multiplicity of ``irreps_in1`` (messages).
    ``mode="uuu"``: outputs summed into ``irreps_target``'s blocks (products of features with
    equal multiplicities). Returns ``(irreps_out, instructions)`` for `e3nn.o3.TensorProduct`.
    """
    irreps_in1, irreps_in2, irreps_target = (o3.Irreps(x) for x in (irreps_in1, irreps_in2, irreps_target))
    targets = [ir for _, ir in irreps_target]
    out_blocks: list[tuple[int, o3.Irrep]] = []
    instructions: list[tuple[int, int, int, str, bool]] = []
    for i1, (mul1, ir1) in enumerate(irreps_in1):
        for i2, (_, ir2) in enumerate(irreps_in2):
            for ir_out in ir1 * ir2:
                if ir_out not in targets:
                    continue
                if mode == "uvu":
                    instructions.append((i1, i2, len(out_blocks), "uvu", True))
                    out_blocks.append((mul1, ir_out))
                elif mode == "uuu":
                    instructions.append((i1, i2, targets.index(ir_out), "uuu", True))
                else:
                    raise ValueError(f"unsupported mode {mode!r}")
    irreps_out = o3.Irreps(out_blocks) if mode == "uvu" else irreps_target
    return irreps_out, instructions
