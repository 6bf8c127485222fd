"""Colorstudio: colorize black-and-white photographs.

The public Python API::

    import colorstudio as cs
    photo = cs.open_image("photo.jpg")
    hints = cs.Hints.load("photo.hints.json")
    result = cs.colorize(photo, hints=hints)
    result.save("photo-colour.png")
"""
__version__ = "0.1.0"
