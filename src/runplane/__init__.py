"""runplane: run scripts and services over REST."""

__version__ = "0.1.0"
