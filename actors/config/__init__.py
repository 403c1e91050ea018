"""MetalLB configuration: CRD and legacy ConfigMap models, loading, validation (see build.py)."""
