"""scalesearch."""
