"""Which irreps a model's node features actually carry, and whether its heads can be read.

Declaring an irrep in ``hidden_irreps`` is not enough for it to be nonzero: in an O(3)
model the features start as even scalars, and a pseudoscalar (``0o``) channel stays
exactly zero unless some coupling produces it (e.g. a ``1e`` feature times an edge vector,
``1e x 1o -> 0o``). `producible_irreps` follows the couplings of the network:

- messages ``h_j x Y(r_ij)`` couple every nonzero feature with every spherical harmonic
  (two different tensors: every allowed output appears);
- the product basis multiplies the messages of a channel with themselves, where an
  antisymmetric coupling of a tensor with itself (``l + l + l3`` odd, e.g. the cross
  product ``a x a``) vanishes; such couplings of different irreps are kept, of equal
  irreps dropped (a slight underestimate for deeper products: the check may ask for an
  irrep that a 1-layer model would in fact produce, never the other way round).

A head's output is reachable if it is carried or is in the product of two carried irreps
(heads multiply two different linear mixes of the features). `check_heads` raises
`UnreachableIrrepsError` naming the head and the smallest irrep to add to ``hidden_irreps``.
"""

from __future__ import annotations

from e3nn import o3

from ..config import HeadConfig, ModelConfig
from ..nn.block import node_layout
from ..nn.projection import UnreachableIrrepsError, check_reachable, reachable_irreps
from ..o3 import cartesian_irreps
from ..o3.irreps import Irrep, irrep_name, irrep_products

__all__ = ["UnreachableIrrepsError", "check_heads", "head_output_irreps", "producible_irreps"]


def head_output_irreps(config: HeadConfig) -> o3.Irreps:
    """The irreps a head predicts (before any Cartesian change of basis)."""
    if config.kind == "irreps":
        return o3.Irreps(config.irreps)
    if config.kind == "dipole":
        return o3.Irreps("0e+1o")  # atomic charges and atomic dipoles
    formula = config.resolved_formula
    assert formula is not None
    return cartesian_irreps(formula, config.pseudo)


def _key(irrep: tuple[int, int], parity: bool) -> Irrep:
    return (irrep[0], irrep[1] if parity else 1)


def producible_irreps(
    hidden: tuple[Irrep, ...], lmax: int, num_layers: int, correlation: int, parity: bool = True
) -> set[Irrep]:
    """Irreps of the node features (``hidden``, as ``(l, p)``) that can be nonzero after
    ``num_layers`` interactions with edge harmonics up to ``lmax`` (see the module docstring)."""
    allowed = {_key(ir, parity) for ir in hidden}
    harmonics = [_key((l, (-1) ** l), parity) for l in range(lmax + 1)]
    carried: set[Irrep] = {(0, 1)}
    for _ in range(num_layers):
        messages = {ir for a in carried for y in harmonics for ir in irrep_products(a, y)} & allowed
        basis, power = set(messages), set(messages)
        for _ in range(correlation - 1):
            power = {
                ir
                for a in power
                for b in messages
                for ir in irrep_products(a, b)
                if not (a == b and (2 * a[0] + ir[0]) % 2 == 1)
            } & allowed
            basis |= power
        carried = basis | (carried & allowed)
    return carried


def check_heads(config: ModelConfig) -> set[Irrep]:
    """Check that every head of ``config`` can be computed; return the carried irreps.

    Raises `UnreachableIrrepsError` naming the head, what the features carry, and the
    smallest irrep to add to ``hidden_irreps`` (with an example string).
    """
    hidden = node_layout(config).irreps
    depth = (config.lmax, config.num_layers, config.correlation, config.parity)
    carried = producible_irreps(hidden, *depth)
    for head in config.heads:
        wanted = [_key((ir.l, ir.p), config.parity) for _, ir in head_output_irreps(head)]
        missing = [ir for ir in dict.fromkeys(wanted) if ir not in reachable_irreps(carried)]
        if missing:
            check_reachable(carried, wanted, f"head {head.name!r} ({head.kind})", _hint(hidden, depth, missing, config))
    return carried


def _hint(hidden: tuple[Irrep, ...], depth: tuple, missing: list[Irrep], config: ModelConfig) -> str:
    channels = config.num_channels if config.hidden_irreps is None else o3.Irreps(config.hidden_irreps)[0].mul
    top = max(ir[0] for ir in missing) + 2
    candidates = sorted({(l, p) for l in range(top + 1) for p in (1, -1)} - set(hidden), key=lambda ir: (ir[0], -ir[1]))
    for candidate in candidates:
        if set(missing) <= reachable_irreps(producible_irreps(hidden + (candidate,), *depth)):
            example = "+".join(f"{channels}x{irrep_name(ir)}" for ir in (*hidden, candidate))
            return (
                f". Add {irrep_name(candidate)} to model.hidden_irreps, e.g. hidden_irreps: '{example}'"
                + ("" if config.parity else " (parity=False: parities are ignored)")
            )
    lmax, num_layers, correlation, parity = depth
    if set(missing) <= reachable_irreps(producible_irreps(hidden, lmax, num_layers + 1, correlation, parity)):
        return f". Use num_layers: {num_layers + 1} (a second interaction couples vectors of neighbors)"
    return ". More layers, a larger lmax or more irreps in model.hidden_irreps are needed"

