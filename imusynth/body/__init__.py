"""Body models for skin-mounted sensors (stage 3'): a mesh fitted to the lifted keypoints.

- :mod:`.smpl`: SMPL loading (no chumpy), a synthetic test model, fitting, mesh placements.
- :mod:`.solver`: the body-model-agnostic fit: rigid initialisation, temporal prior, Levenberg-Marquardt.
"""
