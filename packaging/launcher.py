"""The frozen app's entry point (PyInstaller runs this file as __main__).

Both executables of the bundle run it: ``colorstudio`` (console: the CLI, and the app when
given no command) and, on Windows, ``colorstudio-gui`` (no console window).
"""
import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not start the app again
    # Old macOS Finder passes a process serial number; it is not a photo.
    sys.argv[1:] = [a for a in sys.argv[1:] if not a.startswith("-psn_")]
    from colorstudio.cli import main
    sys.exit(main())
