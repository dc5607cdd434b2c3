"""The table of ``rsa-ray`` subcommands: name, one-line help and the module that defines each.

Naming a subcommand imports nothing: ``rsa-ray --help`` and a usage error read this table alone, and a
subcommand's module is imported only when that subcommand is parsed (``jobs.cli_parser``).

Example:
    >>> [ref.name for ref in SUBCOMMANDS][:2]
    ['probes', 'models']
"""

from __future__ import annotations

from jobs.cli_types import SubcommandRef

SUBCOMMANDS: tuple[SubcommandRef, ...] = (
    SubcommandRef("probes", "add or list probe sets", "jobs.probes"),
    SubcommandRef("models", "register models from a manifest, or list them", "jobs.models"),
    SubcommandRef("extract", "run the models over the probe set and store their activations", "jobs.similarity", "EXTRACT"),
    SubcommandRef("similarity", "compute RDMs and a new similarity version (extracting what is missing)", "jobs.similarity",
                  "SIMILARITY"),
    SubcommandRef("taxonomy", "build the task taxonomy: extract, RDMs, similarity, clustering, report", "jobs.taxonomy"),
    SubcommandRef("rank", "rank the zoo as sources for a target model", "jobs.rank"),
    SubcommandRef("rerank", "register new models and update similarities and rankings incrementally", "jobs.rerank"),
    SubcommandRef("report", "write the HTML report (heatmaps, dendrograms, rankings, failures) from the store",
                  "jobs.report_command"),
    SubcommandRef("export-rdms", "write a layer's RDMs, or its model similarity, as an rsatoolbox HDF5 file",
                  "jobs.export_rdms"),
    SubcommandRef("settings", "show or change the store's settings (e.g. whether TorchScript models are allowed)",
                  "jobs.settings_command"),
    SubcommandRef("verify", "check every entry's checksums and the store's documents; --repair withdraws what is damaged", "jobs.verify"),
    SubcommandRef("train-target", "train a small model on a new task's examples, register it and rank the zoo for it",
                  "jobs.train_target"),
    SubcommandRef("train-zoo", "train the demo zoo (small and large encoders per mini-Taskonomy task) on Ray, resumably",
                  "jobs.train_zoo"),
    SubcommandRef("demo", "the whole workflow on the built-in zoo, local Ray and a local store", "jobs.demo"),
    SubcommandRef("submit", "run an rsa-ray command as a Ray job (resubmitting the same command is a no-op)", "jobs.submit"),
    SubcommandRef("validate", "finetune from each candidate on Ray Tune and test the RSA ranking against the results",
                  "jobs.validate", arguments="jobs.validate_options"),
    SubcommandRef("example-zoo", "set up the example zoo of real pretrained nets and their random twins, offline",
                  "jobs.example_zoo"),
)
