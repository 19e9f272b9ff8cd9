"""mpt-edge: Motion Prompt Tuning micro-expression recognition, from workstation to edge device.

This package is the device side: it must import without torch (DESIGN §2).
"""

__version__ = "0.1.0"
