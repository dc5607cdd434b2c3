"""The manifest's optional ``weights.size``: parsed strictly, checked against the store's limit before any
stat or fetch, and compared with the file's actual size before any byte is hashed."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from rsa_ray.model_entry.specs import WeightsRef
from storage import ManifestError, parse_manifest
from storage import weights as weights_module
from storage.weights import WeightsPolicy, WeightsRefusedError, fetch_weights
from tests.storage.builders import model_manifest

PAYLOAD = bytes(range(256)) * 64  # 16384 bytes
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def _entry_with_size(size):
    entry = model_manifest("m1")[0]
    return {**entry, "weights": {**entry["weights"], "size": size}}


def test_a_positive_whole_size_is_parsed_and_absent_stays_none():
    (entry,) = parse_manifest([_entry_with_size(16384)])
    assert entry.weights.size == 16384
    (plain,) = parse_manifest(model_manifest("m1"))
    assert plain.weights.size is None


@pytest.mark.parametrize("size", [0, -1, True, False, 1.0, 16384.5, "16384", [1]])
def test_a_size_that_is_not_a_whole_number_above_zero_is_refused(size):
    with pytest.raises(ManifestError, match=r"'m1'.*weights\.size.*whole number of bytes > 0") as caught:
        parse_manifest([_entry_with_size(size)])
    assert "\n" not in str(caught.value)
    assert repr(size) in str(caught.value)


def test_the_stored_form_has_no_size_key_unless_declared():
    from rsa_ray.model_entry.entry_reader import entry_to_dict

    (plain,) = parse_manifest(model_manifest("m1"))
    assert "size" not in entry_to_dict(plain)["weights"]
    (sized,) = parse_manifest([_entry_with_size(7)])
    assert entry_to_dict(sized)["weights"]["size"] == 7
    assert parse_manifest([entry_to_dict(sized)]) == (sized,)


def test_weights_ref_refuses_a_bad_size():
    with pytest.raises(ValueError, match="size"):
        WeightsRef("/w", "0" * 64, 0)
    with pytest.raises(ValueError, match="size"):
        WeightsRef("/w", "0" * 64, True)


def _no_hashing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("hashing started")
    monkeypatch.setattr(weights_module.hashlib, "sha256", refuse)


def test_a_declared_size_over_the_limit_is_refused_without_stat_or_fetch(tmp_path, monkeypatch):
    opened = []
    _no_hashing(monkeypatch)
    policy = WeightsPolicy(("http://127.0.0.1:9/",), max_size=1 << 20)
    with monkeypatch.context() as patch:
        patch.setattr(weights_module.os, "stat", lambda *args, **kwargs: opened.append(args))
        patch.setattr(weights_module.fsspec, "open", lambda *args, **kwargs: opened.append(args))
        for uri in (str(tmp_path / "does-not-exist.safetensors"), "http://127.0.0.1:9/zoo/w.safetensors"):
            with pytest.raises(WeightsRefusedError, match=r"larger than this store's limit of 1 MiB"):
                fetch_weights(uri, SHA256, tmp_path / "cache", policy=policy, size=(1 << 20) + 1)
    assert opened == []
    assert not (tmp_path / "cache").exists()


def test_a_local_file_of_another_size_is_refused_before_hashing(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    path.write_bytes(PAYLOAD)
    _no_hashing(monkeypatch)
    with pytest.raises(WeightsRefusedError) as caught:
        fetch_weights(str(path), SHA256, tmp_path / "cache", size=len(PAYLOAD) - 1)
    message = str(caught.value)
    assert f"are {len(PAYLOAD)} bytes, not the declared size of {len(PAYLOAD) - 1} bytes" in message
    assert "\n" not in message and SHA256 not in message


def test_a_local_file_of_the_declared_size_is_admitted(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(PAYLOAD)
    assert fetch_weights(str(path), SHA256, tmp_path / "cache", size=len(PAYLOAD)) == str(path)


class _Handler(http.server.BaseHTTPRequestHandler):
    announce_length = True

    def do_GET(self):
        self.send_response(200)
        if self.announce_length:
            self.send_header("Content-Length", str(len(PAYLOAD)))
        else:
            self.close_connection = True
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def do_HEAD(self):
        self.send_response(200)
        if self.announce_length:
            self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(params=[True, False], ids=["announced", "streamed"])
def server(request):
    handler = type("Handler", (_Handler,), {"announce_length": request.param})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", request.param
    httpd.shutdown()
    httpd.server_close()


def test_a_url_of_another_size_is_refused_and_nothing_is_cached(server, tmp_path, monkeypatch):
    base, announced = server
    if announced:
        _no_hashing(monkeypatch)
    policy = WeightsPolicy((base + "/zoo/",))
    with pytest.raises(WeightsRefusedError, match=r"not the declared size of 1000 bytes"):
        fetch_weights(f"{base}/zoo/w.safetensors", SHA256, tmp_path / "cache", policy=policy, size=1000)
    cache = tmp_path / "cache"
    assert not cache.exists() or list(cache.rglob("*")) == []


def test_a_url_of_the_declared_size_is_admitted(server, tmp_path):
    base, _ = server
    policy = WeightsPolicy((base + "/zoo/",))
    path = fetch_weights(f"{base}/zoo/w.safetensors", SHA256, tmp_path / "cache", policy=policy, size=len(PAYLOAD))
    with open(path, "rb") as handle:
        assert handle.read() == PAYLOAD
