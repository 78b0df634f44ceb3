"""Work off the GUI thread: the training run, a multi-process run, the Playground's generation, the panels' look-ups."""
