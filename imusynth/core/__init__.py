"""The physics core (stage 5): motion record, skeleton maps, kinematics, placements, virtual sensors.

Everything here works on arrays in SI units and knows nothing of video, files or the command line:

- :mod:`.conventions`: units, ``G0``, the z-up world frame, quaternions (w, x, y, z), edge conversions.
- :mod:`.motion`: the :class:`~imusynth.core.motion.Motion` record (time, named 3-D points, confidence).
- :mod:`.skeletons`: skeleton name maps (MediaPipe, Kinect, Pose2Sim, ...) to canonical joint names.
- :mod:`.kinematics`: gaps, zero-phase smoothing, splines, differentiation, segment frames.
- :mod:`.placements`: the :class:`~imusynth.core.placements.Placement` record and the placements TOML.
- :mod:`.sensors`: accelerometer, gyroscope and orientation of each placement
  (:class:`~imusynth.core.sensors.SensorSignals`).
- :mod:`.imu_series`: the :class:`~imusynth.core.imu_series.ImuSeries` record of a real or virtual IMU
  recording, shared by the readers, calibration and HAR export.
"""
