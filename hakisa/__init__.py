"""hakisa: teach an agent to play any windowed PC game from its screen."""

__version__ = "0.1.0"
