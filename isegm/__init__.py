"""isegm: click-based interactive image segmentation (RITM lineage) on a modern stack."""

__version__ = "0.1.0"
