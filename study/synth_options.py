"""The choices `study synth` offers, importable without numpy: scales, EEG formats, backbones.

``study.synthetic.params.SCALES`` and ``trainables.things_eeg2.formats.FORMATS`` define what
each name means; a unit test keeps the names in step.
"""

SCALE_NAMES = ("tiny", "small", "full")
FORMAT_NAMES = ("osf", "nice")
DEFAULT_BACKBONES = ("synclr", "aligned_synclr")
