"""Severity-aware term lexicons shared by the ``blocklist`` stage and the toxicity scorers."""
