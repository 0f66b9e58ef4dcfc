"""The Anny body model (NAVER LABS, Apache-2.0): fitting and skin-mounted sensors (extra ``imusynth[body]``).

``model`` (loading, the body function with its Jacobian), ``placements`` (mesh placements on Anny's
skin), ``fit`` (the clip-level fit with the shared solver). Importing this package imports nothing heavy.
"""
