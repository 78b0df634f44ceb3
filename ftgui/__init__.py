"""ftgui: point-and-click local fine-tuning of causal language models."""

# No process-wide settings here: the window's process sets its threading policy itself
# (ftgui/threads.py); the CLI and training processes keep the libraries' defaults.

__version__ = "0.1.0"
