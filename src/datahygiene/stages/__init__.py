"""Built-in stages that need no model."""
