"""The agent, the play/explore loop, the gymnasium Env and agent sessions."""
