"""The crowd as a reward source: a stream's chat (IRC, which Twitch chat is) read on its own thread, and
phrases in it turned into votes, limited per person, credited to what was on screen the stream's delay
earlier (:mod:`hakisa.crowd.votes`, :mod:`hakisa.crowd.irc`)."""
