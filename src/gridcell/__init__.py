"""gridcell: the operations exchange between DSOs and MNOs."""

__version__ = "0.1.0"
