"""Weights fetching on both backends: verified bytes, a reused cache, mismatches naming the URI (never the
file's digest), and manifests whose relative weights paths resolve against their own folder."""

import hashlib
import os

import fsspec
import pytest
import yaml

from rsa_ray.models import MANIFEST_FORMAT, WeightsIntegrityError
from storage import fetch_weights, load_manifest
from storage.weights import WeightsPolicy
from tests.storage.builders import model_manifest

PAYLOAD = os.urandom(3 << 20)  # three 1 MiB read chunks
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def _zoo_url(target) -> str:
    """A folder beside the store (a local folder, or a prefix in the test bucket)."""
    return target.url.rsplit("/", 1)[0] + "/zoo"


def _policy(target) -> WeightsPolicy:
    """What a store beside the zoo allows: its own bucket (local files always)."""
    return WeightsPolicy(() if target.backend == "local" else (target.url.split("/store")[0] + "/",))


def _put(target, url: str, payload: bytes) -> None:
    if target.backend == "local":
        os.makedirs(os.path.dirname(url), exist_ok=True)
    with fsspec.open(url, "wb", **target.storage_options) as handle:
        handle.write(payload)


def _remove(target, url: str) -> None:
    fs, path = fsspec.url_to_fs(url, **target.storage_options)
    fs.rm_file(path)


def test_fetched_bytes_equal_and_the_cache_is_reused(target, tmp_path):
    uri = f"{_zoo_url(target)}/enc.safetensors"
    _put(target, uri, PAYLOAD)
    cache = tmp_path / "cache"
    path = fetch_weights(uri, SHA256, cache, target.storage_options, _policy(target))
    with open(path, "rb") as handle:
        assert handle.read() == PAYLOAD
    if target.backend == "local":
        assert path == uri and not cache.exists()  # verified in place, nothing copied
        return
    assert path == str(cache / SHA256 / "enc.safetensors")
    assert sorted(os.listdir(cache / SHA256)) == ["enc.safetensors"]  # no temporary file left
    _remove(target, uri)
    assert fetch_weights(uri, SHA256, cache, target.storage_options, _policy(target)) == path  # from the cache
    with open(path, "r+b") as handle:  # a damaged cached copy is re-verified and not served
        handle.write(b"\0" * 16)
    with pytest.raises(FileNotFoundError, match="enc.safetensors"):
        fetch_weights(uri, SHA256, cache, target.storage_options, _policy(target))
    _put(target, uri, PAYLOAD)
    with open(fetch_weights(uri, SHA256, cache, target.storage_options, _policy(target)), "rb") as handle:
        assert handle.read() == PAYLOAD  # fetched again


def test_local_file_urls_are_verified_in_place(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(PAYLOAD)
    assert fetch_weights(f"file://{path}", SHA256, tmp_path / "cache") == str(path)


def test_sha256_mismatch_names_the_uri_and_the_expected_digest_only(target, tmp_path):
    uri = f"{_zoo_url(target)}/tampered.safetensors"
    _put(target, uri, PAYLOAD + b"!")
    expected = "0" * 64
    with pytest.raises(WeightsIntegrityError) as error:
        fetch_weights(uri, expected, tmp_path / "cache", target.storage_options, _policy(target))
    message = str(error.value)
    assert uri in message and expected in message and "\n" not in message
    assert hashlib.sha256(PAYLOAD + b"!").hexdigest() not in message  # nothing about the file's bytes
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").rglob("*")) == []  # nothing kept


def test_missing_weights_and_bad_digests_name_the_uri(target, tmp_path):
    uri = f"{_zoo_url(target)}/missing.safetensors"
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        fetch_weights(uri, SHA256, tmp_path / "cache", target.storage_options, _policy(target))
    with pytest.raises(ValueError, match="missing.safetensors.*64 lowercase hex"):
        fetch_weights(uri, SHA256.upper(), tmp_path / "cache", target.storage_options, _policy(target))


def test_relative_paths_resolve_against_the_manifest_folder_and_the_store_fetches_them(target, store, tmp_path):
    zoo = _zoo_url(target)
    _put(target, f"{zoo}/weights/m1.safetensors", PAYLOAD)
    entry = {**model_manifest("m1")[0], "weights": {"path": "weights/m1.safetensors", "sha256": SHA256}}
    document = {"format": MANIFEST_FORMAT, "description": "", "command": "", "dataset": {}, "models": [entry]}
    _put(target, f"{zoo}/manifest.yaml", yaml.safe_dump(document).encode())
    entries = load_manifest(f"{zoo}/manifest.yaml", target.storage_options)
    assert entries[0].weights.path == f"{zoo}/weights/m1.safetensors"
    if target.backend == "local":
        assert os.path.isabs(entries[0].weights.path) and "://" not in entries[0].weights.path
    store.register_models(entries)
    # The store passes its own storage options (endpoint, credentials) for weights on its protocol.
    path = store.fetch_weights("m1", str(tmp_path / "cache"))
    with open(path, "rb") as handle:
        assert handle.read() == PAYLOAD


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    from storage import default_cache_dir

    monkeypatch.setenv("RSA_RAY_CACHE", str(tmp_path))
    assert default_cache_dir() == str(tmp_path)
    monkeypatch.delenv("RSA_RAY_CACHE")
    assert default_cache_dir() == os.path.expanduser("~/.cache/rsa_ray/weights")
