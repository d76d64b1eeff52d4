"""neurokit."""
