"""Plain, Mage-free helpers that the pipeline's blocks call and pytest tests directly."""
