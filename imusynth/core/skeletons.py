"""Skeleton name maps: from each source's joint names to imusynth's canonical names.

Built-in placements are written against the canonical names below. A map gives, for each
canonical name, the source joint(s) it is made of; several joints mean their mean (for
example ``head`` = mean of the two ears for MediaPipe). A canonical name a skeleton cannot
provide is simply absent; placements then fall back to a definition that does not need it.

Maps exist for MediaPipe, Kinect v1, Azure Kinect, Pose2Sim TRC markers, and the BVH rigs of the
Bandai-Namco motion dataset, CMU/Mixamo-style names (``Hips, LeftArm, LeftForeArm, LeftUpLeg...``, with or
without Mixamo's ``mixamorig:`` prefix) and Reallusion iClone (``CC_Base_...``). BVH joints are joint
centres: ``shoulder`` is the upper-arm joint, ``toe`` the toe base (ball of the foot); such rigs have no heel,
so foot placements use their ankle fallback.

Canonical names (left/right are the subject's own sides)::

    nose, head, neck, chest, pelvis,
    {left,right}_{ear, eye, shoulder, elbow, wrist, hand, hand_tip, thumb, pinky,
                  hip, knee, ankle, heel, toe, small_toe}
"""

from __future__ import annotations

import numpy as np

from imusynth.core.motion import Motion, MotionError

SIDES = ("left", "right")

CANONICAL_NAMES: tuple[str, ...] = (
    "nose", "head", "neck", "chest", "pelvis",
    *(f"{s}_{j}" for s in SIDES for j in (
        "ear", "eye", "shoulder", "elbow", "wrist", "hand", "hand_tip", "thumb", "pinky",
        "hip", "knee", "ankle", "heel", "toe", "small_toe")),
)

#: MediaPipe PoseLandmarker's 33 landmarks, in index order.
MEDIAPIPE_33: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)

#: Kinect v1 (Microsoft Kinect SDK 1.x) 20 joints.
KINECT_V1_20: tuple[str, ...] = (
    "HipCenter", "Spine", "ShoulderCenter", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft",
    "HandLeft", "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft", "KneeLeft",
    "AnkleLeft", "FootLeft", "HipRight", "KneeRight", "AnkleRight", "FootRight",
)

#: Azure Kinect Body Tracking SDK 32 joints.
AZURE_KINECT_32: tuple[str, ...] = (
    "PELVIS", "SPINE_NAVEL", "SPINE_CHEST", "NECK", "CLAVICLE_LEFT", "SHOULDER_LEFT", "ELBOW_LEFT",
    "WRIST_LEFT", "HAND_LEFT", "HANDTIP_LEFT", "THUMB_LEFT", "CLAVICLE_RIGHT", "SHOULDER_RIGHT",
    "ELBOW_RIGHT", "WRIST_RIGHT", "HAND_RIGHT", "HANDTIP_RIGHT", "THUMB_RIGHT", "HIP_LEFT",
    "KNEE_LEFT", "ANKLE_LEFT", "FOOT_LEFT", "HIP_RIGHT", "KNEE_RIGHT", "ANKLE_RIGHT", "FOOT_RIGHT",
    "HEAD", "NOSE", "EYE_LEFT", "EAR_LEFT", "EYE_RIGHT", "EAR_RIGHT",
)

#: Marker names in Pose2Sim / Sports2D TRC files (OpenPose BODY_25(B) and HALPE_26 styles).
POSE2SIM_TRC: tuple[str, ...] = (
    "Hip", "RHip", "RKnee", "RAnkle", "RBigToe", "RSmallToe", "RHeel", "LHip", "LKnee", "LAnkle",
    "LBigToe", "LSmallToe", "LHeel", "Neck", "Head", "Nose", "RShoulder", "RElbow", "RWrist",
    "LShoulder", "LElbow", "LWrist", "REye", "LEye", "REar", "LEar", "CHip",
)


def _sided(pattern: dict[str, str], left: str, right: str) -> dict[str, list[str]]:
    """Expand ``{canonical_suffix: source_pattern}`` with ``{S}`` replaced by each side's token."""
    out: dict[str, list[str]] = {}
    for suffix, src in pattern.items():
        out[f"left_{suffix}"] = [src.format(S=left)]
        out[f"right_{suffix}"] = [src.format(S=right)]
    return out


_MEDIAPIPE_MAP: dict[str, list[str]] = {
    "nose": ["nose"],
    "head": ["left_ear", "right_ear"],
    "neck": ["left_shoulder", "right_shoulder"],
    "chest": ["left_shoulder", "right_shoulder", "left_shoulder", "right_shoulder", "left_hip", "right_hip"],
    "pelvis": ["left_hip", "right_hip"],
    **_sided({j: "{S}_" + j for j in ("ear", "eye", "shoulder", "elbow", "wrist", "thumb", "pinky",
                                       "hip", "knee", "ankle", "heel")}, "left", "right"),
    **_sided({"hand_tip": "{S}_index", "toe": "{S}_foot_index"}, "left", "right"),
    **{f"{s}_hand": [f"{s}_index", f"{s}_pinky"] for s in SIDES},
}

_KINECT_V1_MAP: dict[str, list[str]] = {
    "head": ["Head"],
    "neck": ["ShoulderCenter"],
    "chest": ["Spine", "ShoulderCenter"],
    "pelvis": ["HipCenter"],
    **_sided({"shoulder": "Shoulder{S}", "elbow": "Elbow{S}", "wrist": "Wrist{S}", "hand": "Hand{S}",
              "hip": "Hip{S}", "knee": "Knee{S}", "ankle": "Ankle{S}", "toe": "Foot{S}"}, "Left", "Right"),
}

_AZURE_MAP: dict[str, list[str]] = {
    "head": ["HEAD"],
    "nose": ["NOSE"],
    "neck": ["NECK"],
    "chest": ["SPINE_CHEST"],
    "pelvis": ["PELVIS"],
    **_sided({"ear": "EAR_{S}", "eye": "EYE_{S}", "shoulder": "SHOULDER_{S}", "elbow": "ELBOW_{S}",
              "wrist": "WRIST_{S}", "hand": "HAND_{S}", "hand_tip": "HANDTIP_{S}", "thumb": "THUMB_{S}",
              "hip": "HIP_{S}", "knee": "KNEE_{S}", "ankle": "ANKLE_{S}", "toe": "FOOT_{S}"},
             "LEFT", "RIGHT"),
}

_POSE2SIM_MAP: dict[str, list[str]] = {
    "head": ["Head"],
    "nose": ["Nose"],
    "neck": ["Neck"],
    "chest": ["Neck", "Neck", "RHip", "LHip"],
    "pelvis": ["RHip", "LHip"],
    **_sided({"ear": "{S}Ear", "eye": "{S}Eye", "shoulder": "{S}Shoulder", "elbow": "{S}Elbow",
              "wrist": "{S}Wrist", "hip": "{S}Hip", "knee": "{S}Knee", "ankle": "{S}Ankle",
              "heel": "{S}Heel", "toe": "{S}BigToe", "small_toe": "{S}SmallToe"}, "L", "R"),
}

#: Bandai-Namco Research Motion dataset BVH rig: a ground root and 21 joints (y up, cm).
BANDAI_NAMCO_22: tuple[str, ...] = (
    "joint_Root", "Hips", "Spine", "Chest", "Neck", "Head",
    *(f"{j}_{s}" for s in "LR" for j in ("Shoulder", "UpperArm", "LowerArm", "Hand")),
    *(f"{j}_{s}" for s in "LR" for j in ("UpperLeg", "LowerLeg", "Foot", "Toes")),
)

_BANDAI_MAP: dict[str, list[str]] = {
    "head": ["Head"],
    "neck": ["Neck"],
    "chest": ["Chest"],
    "pelvis": ["Hips"],
    **_sided({"shoulder": "UpperArm_{S}", "elbow": "LowerArm_{S}", "wrist": "Hand_{S}", "hip": "UpperLeg_{S}",
              "knee": "LowerLeg_{S}", "ankle": "Foot_{S}", "toe": "Toes_{S}"}, "L", "R"),
}

#: Joint names of the CMU BVH conversions and of Mixamo rigs (without Mixamo's ``mixamorig:`` prefix)
#: that the map below uses (the finger joints are Mixamo's); both rigs have others (LowerBack, Neck1,
#: Spine2, more fingers...).
CMU_MIXAMO: tuple[str, ...] = (
    "Hips", "Spine", "Spine1", "Neck", "Head",
    *(f"{s}{j}" for s in ("Left", "Right") for j in ("Shoulder", "Arm", "ForeArm", "Hand")),
    *(f"{s}{j}" for s in ("Left", "Right") for j in ("UpLeg", "Leg", "Foot", "ToeBase")),
    *(f"{s}Hand{j}1" for s in ("Left", "Right") for j in ("Thumb", "Index", "Pinky")),
)

_CMU_MIXAMO_MAP: dict[str, list[str]] = {
    "head": ["Head"],
    "neck": ["Neck"],
    "chest": ["Spine1"],
    "pelvis": ["Hips"],
    **_sided({"shoulder": "{S}Arm", "elbow": "{S}ForeArm", "wrist": "{S}Hand", "thumb": "{S}HandThumb1",
              "pinky": "{S}HandPinky1", "hip": "{S}UpLeg", "knee": "{S}Leg", "ankle": "{S}Foot",
              "toe": "{S}ToeBase"}, "Left", "Right"),
    **{f"{s}_hand": [f"{S}HandIndex1", f"{S}HandPinky1"] for s, S in (("left", "Left"), ("right", "Right"))},
}

#: Mixamo rigs as exported, every joint prefixed ``mixamorig:``.
MIXAMO_PREFIX = "mixamorig:"

#: Joints of the Reallusion iClone / Character Creator rig (``CC_Base_``) used by the map below; the rig
#: has about 100 (twist bones, fingers, toes, face).
ICLONE_CC: tuple[str, ...] = (
    "CC_Base_Hip", "CC_Base_Pelvis", "CC_Base_Waist", "CC_Base_Spine01", "CC_Base_Spine02",
    "CC_Base_NeckTwist01", "CC_Base_Head",
    *(f"CC_Base_{s}_{j}" for s in "LR" for j in (
        "Clavicle", "Upperarm", "Forearm", "Hand", "Thigh", "Calf", "Foot", "ToeBase",
        "Eye", "Thumb1", "Index1", "Pinky1")),
)

_ICLONE_MAP: dict[str, list[str]] = {
    "head": ["CC_Base_Head"],
    "neck": ["CC_Base_NeckTwist01"],
    "chest": ["CC_Base_Spine02"],
    "pelvis": ["CC_Base_Pelvis"],
    **_sided({"eye": "CC_Base_{S}_Eye", "shoulder": "CC_Base_{S}_Upperarm", "elbow": "CC_Base_{S}_Forearm",
              "wrist": "CC_Base_{S}_Hand", "thumb": "CC_Base_{S}_Thumb1", "pinky": "CC_Base_{S}_Pinky1",
              "hip": "CC_Base_{S}_Thigh", "knee": "CC_Base_{S}_Calf", "ankle": "CC_Base_{S}_Foot",
              "toe": "CC_Base_{S}_ToeBase"}, "L", "R"),
    **{f"{s}_hand": [f"CC_Base_{S}_Index1", f"CC_Base_{S}_Pinky1"]
       for s, S in (("left", "L"), ("right", "R"))},
}

#: skeleton name -> (its joint names, map canonical -> source joints averaged)
SKELETONS: dict[str, tuple[tuple[str, ...], dict[str, list[str]]]] = {
    "mediapipe": (MEDIAPIPE_33, _MEDIAPIPE_MAP),
    "kinect_v1": (KINECT_V1_20, _KINECT_V1_MAP),
    "azure_kinect": (AZURE_KINECT_32, _AZURE_MAP),
    "pose2sim": (POSE2SIM_TRC, _POSE2SIM_MAP),
    "bandai_namco": (BANDAI_NAMCO_22, _BANDAI_MAP),
    "cmu_mixamo": (CMU_MIXAMO, _CMU_MIXAMO_MAP),
    "mixamo": (tuple(MIXAMO_PREFIX + j for j in CMU_MIXAMO),
               {k: [MIXAMO_PREFIX + j for j in v] for k, v in _CMU_MIXAMO_MAP.items()}),
    "iclone": (ICLONE_CC, _ICLONE_MAP),
}


def detect_skeleton(names: tuple[str, ...] | list[str]) -> str | None:
    """Name of the known skeleton whose joints cover most of ``names`` (at least 80 %), or None."""
    present = set(names)
    best, best_frac = None, 0.0
    for key, (joints, _) in SKELETONS.items():
        frac = len(present & set(joints)) / min(len(joints), max(len(present), 1))
        if frac > best_frac:
            best, best_frac = key, frac
    return best if best_frac >= 0.8 else None


def canonical_sources(names: tuple[str, ...] | list[str], skeleton: str | None) -> dict[str, list[str]]:
    """Canonical points that ``names`` (joints of ``skeleton``) can provide, each with its source joints.

    A canonical name the motion already has, or whose source joints it lacks, is left out. ``None`` or
    ``"canonical"`` give an empty map; an unknown skeleton raises :class:`MotionError`.
    """
    if skeleton is None or skeleton == "canonical":
        return {}
    if skeleton not in SKELETONS:
        raise MotionError(f"unknown skeleton {skeleton!r}; known: {', '.join(SKELETONS)}")
    present = set(names)
    return {canon: list(src) for canon, src in SKELETONS[skeleton][1].items()
            if canon not in present and all(n in present for n in src)}


def to_canonical(motion: Motion, skeleton: str | None = None) -> Motion:
    """Return ``motion`` with the canonical points added (source points kept).

    Parameters
    ----------
    motion : Motion
        A motion whose names follow a known skeleton.
    skeleton : str, optional
        One of :data:`SKELETONS`; detected from the names when omitted. A motion whose names
        match no skeleton (a free marker set) is returned unchanged.

    Notes
    -----
    A canonical point is the mean of its source joints; it is NaN wherever any of them is, and
    its confidence is the smallest of theirs. Canonical names the motion already has are kept.
    """
    key = skeleton or motion.skeleton or detect_skeleton(motion.names)
    sources = canonical_sources(motion.names, key)
    if key is None or key == "canonical":
        return motion
    names = list(motion.names)
    cols = [motion.xyz]
    confs = [motion.confidence]
    for canon, src in sources.items():
        idx = [motion.index(n) for n in src]
        cols.append(motion.xyz[:, idx, :].mean(axis=1, keepdims=True))
        confs.append(motion.confidence[:, idx].min(axis=1, keepdims=True))
        names.append(canon)
    return Motion(
        time=motion.time,
        names=tuple(names),
        xyz=np.concatenate(cols, axis=1),
        confidence=np.concatenate(confs, axis=1),
        source=motion.source,
        skeleton=key,
    )
