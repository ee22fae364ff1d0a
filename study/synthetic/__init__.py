"""Synthetic twin of THINGS-EEG2: a documented generative model written in the real on-disk formats.

params (sizes, generative parameters, SynthConfig, random streams), images (names, latents,
JPEGs), eeg_model (the EEG forward model), embeddings (synthetic embedding stores),
pickle_stream (the streaming pickle container), writer (the tree), files (what a run owns in
--out). The file formats themselves are :mod:`trainables.things_eeg2.formats`.
"""

from trainables.common.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "DEFAULT_BACKBONES": "params",
        "FORMATS": "params",
        "SCALES": "params",
        "GenerativeParams": "params",
        "Scale": "params",
        "SynthConfig": "params",
        "backbone_dim": "params",
        "LazyArray": "pickle_stream",
        "dump_npy_object": "pickle_stream",
        "dump_pickle": "pickle_stream",
        "synth_manifest": "writer",
        "write_dataset": "writer",
        "write_eeg_file": "writer",
        "write_embedding_store": "embeddings",
        "check_synth_complete": "files",
        "clear_previous_run": "files",
    },
)
