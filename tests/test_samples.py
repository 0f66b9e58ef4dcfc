"""Sample videos: manifest, fetch from the shared copy, checksum enforcement."""

from __future__ import annotations

import hashlib

import pytest

from imusynth.errors import InputError
from imusynth.io.samples import fetch, manifest
from tests.conftest import shared_path


def test_manifest_lists_source_licence_and_sha256():
    m = manifest()
    assert "demo" in m
    for entry in m.values():
        assert entry["licence"] and entry["source"] and len(entry["sha256"]) == 64


def test_fetch_copies_and_checks_the_shared_file(tmp_path):
    shared = shared_path("videos", "sports2d")
    path = fetch("demo3_running", folder=tmp_path, shared=shared)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest()["demo3_running"]["sha256"]
    assert fetch("demo3_running", folder=tmp_path, shared=tmp_path / "nowhere") == path   # already there


def test_a_file_with_the_wrong_checksum_is_removed(tmp_path):
    bad = tmp_path / manifest()["demo3_running"]["file"]
    bad.write_bytes(b"not the video")
    with pytest.raises(InputError, match="sha256"):
        fetch("demo3_running", folder=tmp_path, shared=tmp_path / "nowhere")
    assert not bad.exists()


def test_unknown_sample():
    with pytest.raises(InputError, match="unknown sample"):
        fetch("nope")
