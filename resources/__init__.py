"""Colorstudio's data files (sample photo, icons, notices, bundled models).

Installed as the package ``colorstudio.resources`` so that ``importlib.resources`` finds
them in a wheel, an editable install and a PyInstaller bundle alike.
"""
