"""``rsa_ray``'s public names load on first use, each from the module its table names."""

import importlib
import subprocess
import sys

import rsa_ray


def test_every_public_name_resolves_to_its_module():
    for name in rsa_ray.__all__:
        value = getattr(rsa_ray, name)
        if name != "__version__":
            assert value is getattr(importlib.import_module(rsa_ray._EXPORTS[name]), name)


def test_the_kernels_a_worker_needs_load_without_scipy_stats():
    code = "import sys, rsa_ray.rdm, rsa_ray.ranks, rsa_ray.similarity, rsa_ray.tiles; print('scipy.stats' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
