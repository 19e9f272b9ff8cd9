"""The application on top of every stage: the ``mpt-edge`` command line (``cli``, ``commands``, the entry
point) and the demo that chains train -> build -> stream.

Why a package of its own: the commands call every stage (train, calibrate, targets) and the device
runtime, so they can live in none of them without a floor importing the one above it. ``mpt_edge/``
is the device runtime and imports no stage; the stages import ``mpt_edge`` and never ``app``; only
``app`` sees them all. A device install (no ``train`` extra) has all of it: the commands import a
stage only inside the command that needs it, and say in one line which extra to install.
"""
