"""The score ``rank`` uses when none is asked for, in a module light enough for ``--help`` (no pandas, no store)."""

from __future__ import annotations

#: The score ``rank`` uses when none is asked for, by the kind of the target's labels: the cheap estimator
#: that agreed best with measured transfer in docs/validation.md. For classes, leave-one-out k-NN: the only
#: cheap score at Spearman >= 0.8 with a held-out linear probe on all four targets of the real pretrained zoo
#: benchmark (and 0.82 on the shipped zoo's digits). For regression targets, where the benchmark has none yet,
#: the RSA of the labels' RDM (the best mean agreement in the shipped zoo's replication).
DEFAULT_SCORES = {"classes": "knn", "regression": "rsa-labels"}
