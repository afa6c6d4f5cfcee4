"""hakisa: teach an agent to play any windowed PC game from its screen."""

__version__ = "0.1.0"

# The bundled games (hakisa.games registers them, each with a profile and scripted players); kept here
# so that the command line can list them without importing pygame.
BUNDLED_GAMES = ("dodge", "clicker", "bricks", "runner", "gems")
