"""SMPL body-mesh stage (3'): model loading without chumpy, a synthetic test model, fitting, mesh sensors.

:mod:`.loading`, :mod:`.synthetic` and :mod:`.mesh_placements` need numpy only; :mod:`.fit` needs the
optional extra ``imusynth[smpl]`` (torch and smplx). See docs/smpl.md.
"""

from __future__ import annotations

from imusynth.body.smpl.loading import (
    SMPL_JOINT_NAMES,
    SmplModel,
    SmplModelError,
    find_model_file,
    load_model,
)
from imusynth.body.smpl.mesh_placements import (
    MeshPlacement,
    MeshPlacementError,
    builtin_mesh_placements,
    load_mesh_placements,
    mesh_sensor_motion,
    mesh_sensor_trajectories,
)
from imusynth.body.smpl.synthetic import synthetic_model, write_synthetic_model

__all__ = [
    "SMPL_JOINT_NAMES", "MeshPlacement", "MeshPlacementError", "SmplModel", "SmplModelError",
    "builtin_mesh_placements", "find_model_file", "load_mesh_placements", "load_model", "mesh_sensor_motion",
    "mesh_sensor_trajectories", "synthetic_model", "write_synthetic_model",
]
