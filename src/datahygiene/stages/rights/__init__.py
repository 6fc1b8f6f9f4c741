"""Copyright-risk and training-consent tagging (the ``rights.copyright`` stage) and its lists."""
