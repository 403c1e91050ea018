"""The Kubernetes adapter: everything lbtui reads from and writes to a Kubernetes API.

Reading, from the wire up: ``resources`` (the kinds each role watches), ``api`` (KubeApi over
the official client, failed calls), ``reflector`` (list + watch, one thread per kind), ``cache``
(ObjectCache), ``cluster`` (KubeCluster and the KubeWatcher actor), then what the actors read
through: ``cluster_source`` (Services, EndpointSlices, Nodes, Namespaces), ``config_store`` (the
metallb.io objects, edits as API writes), ``secrets`` (BGP passwords).

Writing, one writer per module over ``writer`` (ApiWriter: the api, the namespace, the retry
with backoff): ``service_status`` (with the pure ``service_events``), ``pool_status``,
``config_state``, ``speaker_status``, ``memberlist_secret``, and ``event_recorder`` for core/v1
Events; ``status_readers`` reads back what they wrote.

The controller's own: ``leader`` (Lease election), ``webhooks`` (pure admission and
conversion answers) with ``webhook_server`` (HTTPS), ``certificates`` (the rotator). A
speaker's own: ``discovery`` (the other speakers' pods).
"""
