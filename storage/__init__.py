"""The store layer: one Zarr v3 group on fsspec (a local folder or ``s3://``).

Holds probe sets, the model registry, activations, RDMs, standardised rank vectors,
versioned similarity matrices and Parquet result tables (DESIGN.md §3). May import
``rsa_ray``; never imports Ray or the layers above it.
"""
