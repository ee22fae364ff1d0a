"""The trial side of a study; it never imports ``study`` or ``reports``.

Subpackages, one job each: ``things_eeg2`` (dataset files, caches, splits, the decoding-data
loader), ``embedding`` (image backbones and embedding stores), ``models`` (EEG encoders, the
contrastive head, loss and retrieval metrics), ``training`` (configuration, the loop, schedules,
checkpoints), ``tune`` (the only modules that import Ray) and ``common`` (errors, atomic writes).
"""
