"""A secret in a URL given to any command or flag is never printed, raised, logged or written to the store."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import yaml

from jobs.cli import main
from storage import Store
from storage.redaction import redact_text, redact_url
from tests.unit.jobs.bad_inputs import SECRET, good_entry

SIGNED_WEIGHTS = f"https://zoo.example/w.safetensors?X-Amz-Signature={SECRET}&X-Amz-Credential=AKIA%2F{SECRET}"


def _manifest_with_weights(folder, path):
    entry = good_entry("leaky")
    entry["weights"]["path"] = path
    (folder / "leaky.yaml").write_text(yaml.safe_dump({"models": [entry]}))
    return str(folder / "leaky.yaml")


ARGV_WITH_SECRETS = {
    "store-userinfo": lambda tmp, store: ["models", "list", "--store", f"s3://AKIAEXAMPLE:{SECRET}@bucket/x"],
    "store-https-userinfo": lambda tmp, store: ["similarity", "--store", f"https://user:{SECRET}@host/store"],
    "store-token-query": lambda tmp, store: ["probes", "list", "--store", f"s3://bucket/x?token={SECRET}"],
    "manifest-userinfo": lambda tmp, store: ["models", "add", f"s3://AKIAEXAMPLE:{SECRET}@zoo/m.yaml", "--store", store],
    "manifest-token-query": lambda tmp, store: ["models", "add", f"memory://zoo/m.yaml?token={SECRET}", "--store", store],
    "weights-userinfo": lambda tmp, store: ["models", "add", _manifest_with_weights(tmp, f"s3://K:{SECRET}@zoo/w.safetensors"),
                                            "--store", store],
    "weights-signed": lambda tmp, store: ["models", "add", _manifest_with_weights(tmp, SIGNED_WEIGHTS), "--store", store],
    "models-from-userinfo": lambda tmp, store: ["rerank", "--store", store, "--models-from",
                                                f"s3://AKIAEXAMPLE:{SECRET}@zoo/landed/", "--out", str(tmp / "out")],
    "models-from-token-query": lambda tmp, store: ["rerank", "--store", store, "--models-from",
                                                   f"memory://zoo/landed?sig={SECRET}", "--out", str(tmp / "out")],
}


@pytest.mark.parametrize("name", sorted(ARGV_WITH_SECRETS))
def test_a_secret_in_a_url_appears_nowhere(name, tmp_path, capsys, caplog):
    store = Store.open(str(tmp_path / "store"))
    store.add_probe_set(np.zeros((3, 4, 4, 3), np.uint8), ["a", "b", "c"], "tiny")
    argv = ARGV_WITH_SECRETS[name](tmp_path, store.url)
    with caplog.at_level(logging.INFO):  # what a run logs (libraries' DEBUG traces are off in production)
        code = main(argv)
    captured = capsys.readouterr()
    assert code == 1, captured
    assert SECRET not in captured.out + captured.err + caplog.text
    if name != "weights-userinfo":  # that refusal names the field, not the URL
        assert "***" in captured.err  # the URL is named, redacted
    written = [path for folder in (tmp_path / "store", tmp_path / "out") if folder.exists()
               for path in folder.rglob("*") if path.is_file()]
    assert written and not any(SECRET.encode() in path.read_bytes() for path in written)


@pytest.mark.parametrize("url, shown", [
    ("s3://KEY:SECRET@bucket/x", "s3://***@bucket/x"),
    ("https://user:pass@host/w.safetensors", "https://***@host/w.safetensors"),
    ("https://host/w?X-Amz-Signature=abc&X-Amz-Security-Token=t", "https://host/w?X-Amz-Signature=***&X-Amz-Security-Token=***"),
    ("gs://bucket/w?token=abc#part", "gs://bucket/w?token=***#***"),
    ("/local/path?not-a-query", "/local/path?not-a-query"),
    ("s3://bucket/plain", "s3://bucket/plain"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redact_text_redacts_every_url_in_a_message():
    message = "GET https://h/w?token=abc failed; retried s3://K:S@b/x"
    assert redact_text(message) == "GET https://h/w?token=*** failed; retried s3://***@b/x"
