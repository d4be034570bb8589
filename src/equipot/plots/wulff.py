"""The Wulff shape as a PNG: the 3D polyhedron coloured by facet family, and gamma(n) in a
plane of normals (polar), with the measured surface energies as points."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._figure import new_figure, save_figure

__all__ = ["wulff_plot"]


def wulff_plot(
    facets: Sequence[tuple[int, np.ndarray]],
    labels: Sequence[str],
    fractions: Sequence[float],
    path: str | os.PathLike,
    polar: tuple[np.ndarray, np.ndarray, str] | None = None,
    points: Sequence[tuple[float, float, int]] = (),
    title: str = "",
) -> Path:
    """Write the Wulff polyhedron and, optionally, a polar plot of gamma(n).

    Args:
        facets: ``(family, polygon)`` per facet, ``polygon`` [k, 3] corners in order.
        labels: the name of each family (e.g. ``"{111}"``); ``fractions`` its area fraction.
        polar: ``(angles, support, plane)``: angles [n] (rad) of normals in a plane named
            ``plane`` and the Wulff support function (the convexified gamma, J/m²) there.
        points: ``(angle, gamma, family)`` of the measured planes lying in that plane.
    """
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    figure, axes = new_figure(1, 2 if polar is not None else 1, size=(4.6, 4.4))
    for panel in axes:
        panel.remove()
    solid = figure.add_subplot(1, len(axes), 1, projection="3d")
    colors = [f"C{family % 10}" for family in range(len(labels))]
    for family, polygon in facets:
        solid.add_collection3d(Poly3DCollection([polygon], facecolor=colors[family], edgecolor="0.2", linewidth=0.5,
                                                alpha=1.0))
    corners = np.concatenate([polygon for _, polygon in facets])
    reach = float(np.abs(corners).max())
    for setter in (solid.set_xlim, solid.set_ylim, solid.set_zlim):
        setter(-reach, reach)
    solid.set_box_aspect((1, 1, 1))
    solid.view_init(elev=20, azim=30)
    solid.set_axis_off()
    handles = [solid.scatter([], [], [], color=colors[i], marker="s", s=60,
                             label=f"{labels[i]}  {100 * fractions[i]:.1f} %") for i in range(len(labels))]
    solid.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.08), ncol=min(3, len(labels)),
                 fontsize=8, title="area fraction", title_fontsize=8)
    solid.set_title(title or "Wulff shape", fontsize=10)
    if polar is not None:
        angles, support, plane = polar
        dial = figure.add_subplot(1, 2, 2, projection="polar")
        dial.plot(angles, support, color="0.3", linewidth=1.2, label="Wulff γ(n) (convexified)")
        for angle, gamma, family in points:
            dial.plot([angle], [gamma], "o", color=colors[family], markersize=7)
        dial.set_rmin(0.0)
        dial.set_rmax(1.08 * float(np.max(support)))
        dial.set_title(f"γ(n) in the {plane} plane (J/m²); dots: slabs", fontsize=10)
        dial.legend(loc="lower center", bbox_to_anchor=(0.5, -0.16), fontsize=8)
    return save_figure(figure, path)
