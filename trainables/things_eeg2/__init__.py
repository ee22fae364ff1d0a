"""THINGS-EEG2 on disk: file formats, safe unpickling, layout, EEG files, images, the prepared
cache, validation and subject splits, and the loader that turns them into DecodingData."""

from trainables.common.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "DataLayout": "layout",
        "find_layout": "layout",
        "DecodingData": "decoding_data",
        "EvalSplit": "decoding_data",
        "read_eeg_file": "eeg_files",
        "read_images": "images",
        "load_decoding_data": "loader",
        "load_run_data": "loader",
        "dataset_images": "loader",
        "PROTOCOLS": "protocols",
        "safe_load": "safe_pickle",
    },
)
