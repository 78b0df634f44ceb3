"""Widgets the panels are built from: fields, plots, the result card, the SFT preview, the banner and badges."""
