"""Text and image scorers: toxicity, NSFW and blocklists."""
