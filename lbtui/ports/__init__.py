"""What the console may ask of a runtime: local (in process), remote (``--connect``) or kube
(a cluster's API).
"""
