"""The Qt-free core: config, data, models, training and run directories.

Nothing under this package may import Qt (a test makes sure of it).
"""
