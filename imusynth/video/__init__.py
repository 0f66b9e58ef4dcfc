"""The video stages (1-4) and the video job: decode → pose → tracks → lift → camera → Motion.

- :mod:`.decode`: decoding with OpenCV, per-frame timestamps, rotation metadata (stage 1).
- :mod:`.pose`: model lookup, MediaPipe backend, tracking, left/right identity repair (stage 2).
- :mod:`.lift`: metric 3-D in the camera from world landmarks placed by PnP (stage 3).
- :mod:`.camera`: the camera's own rotation from the background, shot cuts, gravity (stage 4).
- :mod:`.framestore`: per-frame rows spilled to a temporary file (memory flat with length).
- :mod:`.stream`: stages 1-4 in one streaming pass (:class:`~imusynth.video.stream.VideoRun`).
- :mod:`.segments`: one track → person segments → :class:`~imusynth.core.motion.Motion`.
- :mod:`.job`: :func:`~imusynth.video.job.process_video`, the thin orchestrator that writes the HDF5.
- :mod:`.overlay`: the ``--overlay`` QA video.
"""
