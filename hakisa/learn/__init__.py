"""The Q-network, its losses, study, consolidate, train and checkpoints."""
