"""ftgui: point-and-click local fine-tuning of causal language models."""

import os

# torch's OpenMP threads otherwise spin while waiting for work; on a busy machine (or
# beside the GUI thread) that made steps 20-50x slower (bench/NOTES.md). Set before torch
# is imported; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
