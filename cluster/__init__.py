"""The Ray layer: connecting to a cluster, encoder actors, CPU tasks for RDMs and
similarity tiles, and Ray Tune trainables.

With ``jobs`` the only code that imports Ray. May import ``storage`` and ``rsa_ray``.
"""
