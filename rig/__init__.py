"""optorig: closed-loop optogenetics place-preference rig controller.

Importing ``rig`` loads neither Qt nor OpenCV; the core runs headless.
"""

__version__ = "0.1.0"
