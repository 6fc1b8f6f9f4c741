"""Likeness tagging: faces in images, person names in text, and face blurring for kept images."""
