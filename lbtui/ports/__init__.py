"""What the console may ask of a runtime: local (in process), remote (``--connect``) or kube
(a cluster's API), and the answers it can work out for itself from what it was told.

- ``base``: the ConsolePort protocol every port follows, ReadOnlyPort, the editable kinds;
- ``local``: LocalPort, a runtime in this process (``lbtui demo``);
- ``remote``: RemotePort, a headless runtime's status endpoint, and its decoders;
- ``kube/``: KubePort, a cluster's API with every speaker's event stream merged in;
- ``explain``, ``tree``, ``what_if``: describe, the service tree and what-if, from the
  election's reasons (pure: a ConsoleState in, text out);
- ``documents``: objects in MetalLB's (or Kubernetes') form, passwords kept out.
"""
