"""Dialogs: export, questions, the system report."""
