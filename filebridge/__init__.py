"""filebridge: reconcile HR system export files into an LMS, and send completions back."""

__version__ = "0.1.0"
