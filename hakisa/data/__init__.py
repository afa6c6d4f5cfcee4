"""The dataset format, transitions for training, inspect and replay."""
