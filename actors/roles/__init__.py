"""One builder per role: options in, actor specs out. The only place actors are wired together.

- ``speaker``: ``build(SpeakerOptions)``, one node's announcer (``lbtui speaker``), with its
  subsystems' parts in ``layer2``, ``bgp`` (native or FRR) and ``membership``;
- ``controller``: ``build(ControllerOptions)``, allocation and status on a cluster, webhooks;
- ``demo``: ``build(DemoOptions)``, the simulated cluster with the real actors;
- ``console``: ``build(KubeConsoleOptions)``, the actors behind ``lbtui console --kubeconfig``;
- ``observability`` (health, metrics, status endpoint, event log, failover meter) and
  ``kube`` (connecting to the API), shared by the builders above.

A builder refuses options that cannot work with ``errors.OptionsError`` before it makes
anything. Nothing else under ``actors`` imports this package (an import-linter contract).
"""
