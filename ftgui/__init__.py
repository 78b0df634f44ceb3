"""ftgui: point-and-click local fine-tuning of causal language models."""

__version__ = "0.1.0"
