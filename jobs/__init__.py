"""Entry points: the ``rsa-ray`` command, the scripts that ``ray job submit`` runs, and reports.

The top layer: may import ``cluster``, ``storage`` and ``rsa_ray``; nothing imports it.
"""
