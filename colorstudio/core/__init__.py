"""Qt-free core: colour science, images, hints, composition, sessions and scheduling."""
