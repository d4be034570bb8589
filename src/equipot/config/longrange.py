"""The ``long_range`` section of a model config: learned charges and their electrostatics."""

from __future__ import annotations

import math
from typing import Literal

from ase.data import atomic_numbers
from pydantic import Field, model_validator

from .strict import StrictModel

__all__ = ["LongRangeConfig"]


class LongRangeConfig(StrictModel):
    """Adds the Coulomb energy of learned charges to the local model (docs/longrange.md).

    ``method``: ``auto`` (direct sum for molecules, Ewald up to 256 atoms, PME above),
    ``ewald``, ``pme`` or ``direct`` (molecules only). ``charges``: ``neutral`` (predicted
    charges corrected to the total charge), ``qeq`` (charge equilibration; needs
    ``screening: gaussian``) or ``fixed`` (each element's charge from ``fixed_charges``, in
    e, e.g. ``{Na: 1.0, Cl: -1.0}``, corrected to the total charge; nothing learned).
    ``initial_charges`` (neutral, qeq): each element's starting charge in e (the charge
    head's per-element part starts there; `ChargeHead.start_from_charges`), for data without
    reference charges. ``screening``: ``none`` (bare 1/r), ``gaussian`` (Gaussian
    charges of width ``sigma`` Å) or ``yukawa`` (``exp(-kappa r)/r``, ``kappa`` in 1/Å).
    ``accuracy``: target error of the periodic sums for unit charges (e/Å; torch-pme's
    error bounds). ``real_space_cutoff``: Å, the real-space part of Ewald and PME.
    """

    method: Literal["auto", "ewald", "pme", "direct"] = Field(
        "auto", description="auto (direct for molecules, Ewald up to 256 atoms, PME above), ewald, pme or direct"
    )
    charges: Literal["neutral", "qeq", "fixed"] = Field(
        "neutral", description="neutral (corrected predictions), qeq (charge equilibration) or fixed (fixed_charges)"
    )
    fixed_charges: dict[str, float] | None = Field(
        None, description="charge of each element (e) for charges: fixed, e.g. {Na: 1.0, Cl: -1.0}"
    )
    initial_charges: dict[str, float] | None = Field(
        None,
        description="charges neutral/qeq: each element's starting charge (e), e.g. the formal {Na: 1.0, Cl: -1.0}; "
        "default: the reference charges of a charges loss target, else 0",
    )
    screening: Literal["none", "gaussian", "yukawa"] = Field("none", description="none (1/r), gaussian (sigma) or yukawa (kappa)")
    sigma: float | None = Field(None, gt=0, description="Gaussian charge width (Å), screening gaussian")
    kappa: float | None = Field(None, gt=0, description="Yukawa inverse screening length (1/Å), screening yukawa")
    accuracy: float = Field(1e-4, gt=0, lt=1, description="error bound of the periodic sums (e/Å, unit charges)")
    real_space_cutoff: float = Field(8.0, gt=0, description="real-space cutoff of Ewald/PME (Å)")

    @model_validator(mode="after")
    def _check_screening(self) -> "LongRangeConfig":
        if self.screening == "gaussian" and self.sigma is None:
            raise ValueError("screening gaussian needs sigma, the width of the Gaussian charges in Å (e.g. sigma: 1.0)")
        if self.screening == "yukawa" and self.kappa is None:
            raise ValueError("screening yukawa needs kappa, the inverse screening length in 1/Å (e.g. kappa: 0.5)")
        if self.screening != "gaussian" and self.sigma is not None:
            raise ValueError(f"sigma is set but screening is {self.screening!r}; set screening: gaussian or drop sigma")
        if self.screening != "yukawa" and self.kappa is not None:
            raise ValueError(f"kappa is set but screening is {self.screening!r}; set screening: yukawa or drop kappa")
        if self.charges == "qeq" and self.screening != "gaussian":
            raise ValueError("charges qeq needs screening: gaussian with a width sigma (Å), e.g. sigma: 1.0")
        return self

    @model_validator(mode="after")
    def _check_fixed_charges(self) -> "LongRangeConfig":
        if self.charges == "fixed" and not self.fixed_charges:
            raise ValueError("charges fixed needs fixed_charges, the charge of each element in e (e.g. fixed_charges: {Na: 1.0, Cl: -1.0})")
        if self.charges != "fixed" and self.fixed_charges is not None:
            raise ValueError(f"fixed_charges is set but charges is {self.charges!r}; set charges: fixed or drop fixed_charges")
        if self.charges == "fixed" and self.initial_charges is not None:
            raise ValueError("initial_charges is for learned charges (neutral, qeq); with charges: fixed give fixed_charges only")
        for key, table in (("fixed_charges", self.fixed_charges), ("initial_charges", self.initial_charges)):
            for symbol, charge in (table or {}).items():
                if symbol not in atomic_numbers or symbol == "X":
                    close = [s for s in atomic_numbers if s.lower() == symbol.lower() and s != "X"]
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise ValueError(f"{key}: {symbol!r} is not a chemical symbol{hint}")
                if not math.isfinite(charge):
                    raise ValueError(f"{key}: the charge of {symbol} is {charge}; give a finite charge in e")
        return self

    def check_fixed_charges_cover(self, species: list[str]) -> None:
        """Raise ValueError when ``charges: fixed`` gives no charge to an element of ``species``."""
        if self.charges != "fixed" or self.fixed_charges is None:
            return
        missing = [s for s in species if s not in self.fixed_charges]
        if missing:
            raise ValueError(
                f"long_range.fixed_charges has no charge for {missing}; give every element of species {species} a charge (e)"
            )
