"""Colorization engines behind one interface (see ``base``), and their registry."""
