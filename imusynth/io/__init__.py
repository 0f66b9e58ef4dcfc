"""Files in and out: motion and real-IMU readers, the HDF5 schema ``imusynth/1``, sample data.

- :mod:`.readers`: TRC, C3D, CSV and Kinect motion readers; real-IMU readers (CSV presets, .ts, HDF5).
- :mod:`.hdf5`: schema ``imusynth/1``: the :class:`~imusynth.io.hdf5.Clip` record, atomic write, read.
- :mod:`.motion_job`: the motion-file job (motion file → sensors → HDF5).
- :mod:`.inspect`: the summary table and signal plot of ``imusynth inspect``.
- :mod:`.samples`: the sample videos (fetch and sha256 check).
"""
