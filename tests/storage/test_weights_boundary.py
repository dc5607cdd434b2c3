"""Weights the store's settings do not allow are refused before any byte is read: a source not allowed
before any network access, a file over the size limit by its size, and nothing of a refused download or a
refused model stays in the cache. Served by a loopback HTTP server; nothing leaves the machine."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading

import pytest

from rsa_ray.models import WeightsIntegrityError
from storage import Store
from storage.errors import CorruptEntryError, StoreUnavailableError
from storage.weights import WeightsPolicy, WeightsRefusedError, fetch_weights, provisional_weights

PAYLOAD = os.urandom((2 << 20) + 5)
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    requests: list[tuple[str, str]] = []
    announce_length = True

    def _answer(self, body: bool) -> None:
        type(self).requests.append((self.command, self.path))
        payload = self.files.get(self.path)
        if payload is None:
            self.send_error(404)
            return
        self.send_response(200)
        if self.announce_length:
            self.send_header("Content-Length", str(len(payload)))
        else:
            self.close_connection = True
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def do_HEAD(self):  # noqa: N802 (http.server's names)
        self._answer(body=False)

    def do_GET(self):  # noqa: N802
        self._answer(body=True)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A loopback HTTP server in a thread; yields (base URL, handler class with its request log)."""
    handler = type("Handler", (_Handler,), {"files": {"/zoo/w.safetensors": PAYLOAD}, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def _store(tmp_path) -> Store:
    return Store.open(str(tmp_path / "store"))


def _cache_is_empty(cache) -> bool:
    return not cache.exists() or list(cache.rglob("*")) == []


def test_a_url_the_store_does_not_allow_is_refused_without_any_request(server, tmp_path):
    base, handler = server
    store, cache = _store(tmp_path), tmp_path / "cache"
    with pytest.raises(WeightsRefusedError) as caught:
        store.fetch_weights_at(f"{base}/zoo/w.safetensors", SHA256, str(cache))
    message = str(caught.value)
    assert message.startswith(f"weights {base}/zoo/w.safetensors: this store does not allow weights from there")
    assert "--allow-weights-url" in message and "\n" not in message
    assert handler.requests == [] and _cache_is_empty(cache)


@pytest.mark.parametrize("path", ["/zoo2/w.safetensors", "/zoo/../secret", "/zoo/%2e%2e/secret", "/other"])
def test_an_allowed_prefix_matches_whole_path_segments_only(server, tmp_path, path):
    base, handler = server
    store = _store(tmp_path)
    store.update_settings(allow_weights_urls=(f"{base}/zoo/",))
    with pytest.raises(WeightsRefusedError):
        store.fetch_weights_at(base + path, SHA256, str(tmp_path / "cache"))
    assert handler.requests == []


@pytest.mark.parametrize("uri", ["http://127.0.0.1.example.org/zoo/w", "http://127.0.0.1:1/zoo/w",
                                 "https://127.0.0.1/zoo/w", "simplecache::http://127.0.0.1/zoo/w",
                                 "s3://another-bucket/zoo/w"])
def test_another_host_port_scheme_or_chained_url_is_refused(tmp_path, uri):
    policy = WeightsPolicy(("http://127.0.0.1/zoo/",))
    with pytest.raises(WeightsRefusedError):
        fetch_weights(uri, SHA256, tmp_path / "cache", policy=policy)


def test_an_allowed_url_is_fetched_verified_and_cached(server, tmp_path):
    base, handler = server
    store, cache = _store(tmp_path), tmp_path / "cache"
    store.update_settings(allow_weights_urls=(f"{base}/zoo",))
    path = store.fetch_weights_at(f"{base}/zoo/w.safetensors", SHA256, str(cache))
    assert path == str(cache / SHA256 / "w.safetensors") and open(path, "rb").read() == PAYLOAD
    assert sorted(p.name for p in cache.rglob("*")) == [SHA256, "w.safetensors"]  # no temporary left


def test_a_download_that_does_not_match_leaves_nothing_and_shows_no_digest(server, tmp_path):
    base, handler = server
    handler.files["/zoo/tampered.bin"] = PAYLOAD + b"!"
    cache = tmp_path / "cache"
    with pytest.raises(WeightsIntegrityError) as caught:
        fetch_weights(f"{base}/zoo/tampered.bin", SHA256, cache, policy=WeightsPolicy((f"{base}/zoo/",)))
    message = str(caught.value)
    assert SHA256 in message and hashlib.sha256(PAYLOAD + b"!").hexdigest() not in message
    assert _cache_is_empty(cache)


def test_a_refused_model_keeps_nothing_in_the_cache_and_an_admitted_one_is_kept(server, tmp_path):
    base, _ = server
    cache, policy = tmp_path / "cache", WeightsPolicy((f"{base}/zoo/",))
    with pytest.raises(ValueError, match="does not build"):
        with provisional_weights(f"{base}/zoo/w.safetensors", SHA256, cache, policy=policy) as path:
            assert open(path, "rb").read() == PAYLOAD  # usable inside the block
            raise ValueError("the model does not build")
    assert _cache_is_empty(cache)
    with provisional_weights(f"{base}/zoo/w.safetensors", SHA256, cache, policy=policy) as path:
        assert open(path, "rb").read() == PAYLOAD
    assert open(cache / SHA256 / "w.safetensors", "rb").read() == PAYLOAD


def test_an_unreachable_url_is_a_network_failure_naming_it_and_a_404_does_not_exist(server, tmp_path):
    base, _ = server
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    policy = WeightsPolicy((f"{closed}/zoo/", f"{base}/zoo/"))
    with pytest.raises(StoreUnavailableError) as caught:
        fetch_weights(f"{closed}/zoo/w.safetensors", SHA256, tmp_path / "cache", policy=policy)
    assert str(caught.value).startswith(f"fetching weights {closed}/zoo/w.safetensors failed: network failure")
    assert "do not exist" not in str(caught.value)
    with pytest.raises(FileNotFoundError, match=f"^weights {base}/zoo/absent.bin do not exist$"):
        fetch_weights(f"{base}/zoo/absent.bin", SHA256, tmp_path / "cache", policy=policy)
    assert _cache_is_empty(tmp_path / "cache")


def test_a_sparse_local_file_over_the_limit_is_refused_by_its_size_before_it_is_read(tmp_path, monkeypatch):
    import storage.weights as weights

    big = tmp_path / "big.safetensors"
    with open(big, "wb") as handle:
        handle.truncate(5 << 30)  # 5 GiB, sparse
    monkeypatch.setattr(weights, "_sha256_of", lambda *args, **kwargs: pytest.fail("the file was read"))
    with pytest.raises(WeightsRefusedError) as caught:
        _store(tmp_path).fetch_weights_at(str(big), "0" * 64, str(tmp_path / "cache"))
    assert str(caught.value) == (f"weights {big} are larger than this store's limit of 4 GiB (max_weights_size); "
                                 "the operator raises it with `rsa-ray settings --max-weights-size SIZE`")


def test_a_declared_size_is_checked_before_hashing(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(PAYLOAD)
    with pytest.raises(WeightsRefusedError, match="not the declared size of 10 bytes"):
        fetch_weights(str(path), SHA256, tmp_path / "cache", size=10)
    assert fetch_weights(str(path), SHA256, tmp_path / "cache", size=len(PAYLOAD)) == str(path)


@pytest.mark.parametrize("announce_length", [True, False])
def test_a_download_over_the_limit_is_refused_announced_or_streamed(server, tmp_path, announce_length):
    base, handler = server
    handler.announce_length = announce_length
    cache, policy = tmp_path / "cache", WeightsPolicy((f"{base}/zoo/",), max_size=1 << 20)
    with pytest.raises(WeightsRefusedError, match="larger than this store's limit of 1 MiB"):
        fetch_weights(f"{base}/zoo/w.safetensors", SHA256, cache, policy=policy)
    if announce_length:  # refused by the announced length: the body was never asked for
        assert [method for method, _ in handler.requests] == ["HEAD"]
    assert _cache_is_empty(cache)


def test_a_local_file_that_is_not_regular_is_refused_unread(tmp_path):
    with pytest.raises(WeightsRefusedError, match="are not a regular file"):
        fetch_weights("/dev/zero", SHA256, tmp_path / "cache")


def test_settings_hold_the_size_limit_and_prefixes_and_refuse_bad_ones(tmp_path):
    store = _store(tmp_path)
    assert store.settings().max_weights_size == 4 << 30 and store.settings().allow_weights_urls == ()
    store.update_settings(max_weights_size=8 << 30, allow_weights_urls=("https://models.example.org/zoo/",))
    reopened = Store.open(store.url).settings()
    assert reopened.max_weights_size == 8 << 30 and reopened.allow_weights_urls == ("https://models.example.org/zoo/",)
    assert reopened.weights_policy(store.url).allowed_prefixes == ("https://models.example.org/zoo/",)
    for bad in ("models.example.org/zoo", "https://user:pw@host/zoo", "https://host/zoo?x=1", "https://host/a/../b"):
        with pytest.raises(ValueError):
            store.update_settings(allow_weights_urls=(bad,))
    with pytest.raises(ValueError, match="max_weights_size must be a positive whole number"):
        store.update_settings(max_weights_size=0)


def test_a_damaged_stored_setting_is_reported_as_damaged(tmp_path):
    import json

    store = _store(tmp_path)
    root = tmp_path / "store" / "zarr.json"
    document = json.loads(root.read_text())
    document.setdefault("attributes", {})["settings"] = {"max_weights_size": "lots"}
    root.write_text(json.dumps(document))
    with pytest.raises(CorruptEntryError, match="settings in zarr.json of store .* are damaged: max_weights_size"):
        store.settings()
