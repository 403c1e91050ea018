"""MetalLB configuration: CRD and legacy ConfigMap models (crds, legacy), loading (loader,
parsing), validation into one Config (build, over pools, peers and advertisements, reporting
into report), and the store and actor that keep the last good one."""
