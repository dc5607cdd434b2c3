"""``rsa-ray settings`` sets where weights may come from and how large they may be, and ``models add`` keeps
to it: a model whose weights URL the store does not allow is refused in one line without any request, and
nothing of a refused model stays in the weights cache; an allowed one is fetched and registered."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
import yaml

from jobs.cli import main
from storage import Store
from tests.unit.jobs.bad_inputs import ZOO, good_entry


@pytest.fixture
def zoo_server():
    """A loopback HTTP server serving the shipped zoo folder; yields (base URL, the paths requested)."""
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(ZOO), **kwargs)

        def send_head(self):
            requested.append(self.path)
            return super().send_head()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requested
    httpd.shutdown()
    httpd.server_close()


def _manifest(folder: Path, entry: dict) -> str:
    folder.mkdir(exist_ok=True)
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump({"models": [entry]}))
    return str(path)


def _remote_entry(base: str, model_id: str) -> dict:
    entry = good_entry(model_id)
    entry["weights"]["path"] = f"{base}/{Path(entry['weights']['path']).name}"
    return entry


def test_settings_show_and_change_the_weights_limit_and_sources(capsys, tmp_path):
    store = str(tmp_path / "store")
    assert main(["settings", "--store", store]) == 0
    assert "max_weights_size=4 GiB, weights from: local files" in capsys.readouterr().out
    assert main(["settings", "--store", store, "--max-weights-size", "8GiB",
                 "--allow-weights-url", "https://models.example.org/zoo/"]) == 0
    assert "max_weights_size=8 GiB, weights from: local files, https://models.example.org/zoo/" in capsys.readouterr().out
    settings = Store.open(store).settings()
    assert settings.max_weights_size == 8 << 30 and settings.allow_weights_urls == ("https://models.example.org/zoo/",)
    assert main(["settings", "--store", store, "--disallow-weights-url", "https://models.example.org/zoo/"]) == 0
    assert Store.open(store).settings().allow_weights_urls == ()


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--max-weights-size", "lots", "must be a positive number of bytes"),
    ("--max-weights-size", "0", "must be a positive number of bytes"),
    ("--allow-weights-url", "models.example.org/zoo", "must be scheme://host"),
    ("--allow-weights-url", "https://user:pw@models.example.org/", "must not hold credentials"),
])
def test_a_bad_setting_is_a_usage_error_and_changes_nothing(capsys, tmp_path, flag, value, says):
    store = str(tmp_path / "store")
    with pytest.raises(SystemExit) as exited:
        main(["settings", "--store", store, flag, value])
    assert exited.value.code == 2 and says in capsys.readouterr().err
    assert Store.open(store).settings().allow_weights_urls == ()


def test_models_add_refuses_a_url_not_allowed_without_a_request_and_fetches_an_allowed_one(
        capsys, tmp_path, monkeypatch, zoo_server):
    base, requested = zoo_server
    cache = tmp_path / "cache"
    monkeypatch.setenv("RSA_RAY_CACHE", str(cache))
    store = str(tmp_path / "store")
    manifest = _manifest(tmp_path / "zoo", _remote_entry(base, "remote"))
    code = main(["models", "add", manifest, "--store", store])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 3 and len(lines) == 1 and "Traceback" not in lines[0]
    assert f"model 'remote' refused: weights {base}/" in lines[0] and "does not allow weights from there" in lines[0]
    assert requested == [] and (not cache.exists() or list(cache.rglob("*")) == [])
    assert "remote" not in Store.open(store).model_ids()

    assert main(["settings", "--store", store, "--allow-weights-url", f"{base}/"]) == 0
    assert main(["models", "add", manifest, "--store", store]) == 0
    assert "remote" in Store.open(store).model_ids() and len(list(cache.rglob("*.safetensors"))) == 1


def test_a_model_refused_after_its_download_leaves_nothing_in_the_cache(capsys, tmp_path, monkeypatch, zoo_server):
    base, requested = zoo_server
    cache = tmp_path / "cache"
    monkeypatch.setenv("RSA_RAY_CACHE", str(cache))
    store = str(tmp_path / "store")
    assert main(["settings", "--store", store, "--allow-weights-url", f"{base}/"]) == 0
    entry = _remote_entry(base, "misbuilt")
    entry["layers"] = {"out": "encoder.no_such_module"}
    entry["default_layer"] = "out"
    code = main(["models", "add", _manifest(tmp_path / "zoo", entry), "--store", store])
    err = capsys.readouterr().err
    assert code == 3 and "model 'misbuilt' refused" in err and requested  # fetched, then refused
    assert not cache.exists() or list(cache.rglob("*")) == []
