"""lbtui's console and command line. The runtime lives in the ``actors`` package."""
