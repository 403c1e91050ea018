"""KubePort: the console on a cluster's API, with every speaker's own event stream merged in.

``lbtui console --kubeconfig`` sees the cluster through the API (a :class:`LocalPort` on the
console runtime of ``kube_console_specs``: Services, pools, status objects, edits). What only
the speakers know (membership, who answers ARP/NDP for which address, BGP sessions,
failovers and their measured times) comes from each speaker's status endpoint
(actors/observability/status.py), reached the way a user outside the cluster can with
only a kubeconfig:

- the speaker pods are found by label in ``--namespace`` and watched (list + watch with the
  Reflector of actors/kube), so new and restarted pods are followed and deleted
  ones let go;
- each speaker's ``GET /state`` and ``GET /events?since=N`` are read through the API server's
  pod proxy subresource (``pods/NAME:PORT/proxy/events``), with the official client's
  authenticated connection; the port is the pod's container port named ``status`` unless
  ``--speaker-status-port`` says otherwise;
- events are decoded with :func:`lbtui.ports.remote.decode_event`, their times moved onto the
  console's clock (each speaker's monotonic clock has its own origin), and posted to the app
  in batches, merged with the cluster view;
- a stream that breaks reconnects with backoff and resumes after the last event seen (what
  the speaker still holds in its recent history is replayed, then its announcements in force
  are reconciled); a broken or gone speaker is an event in the log (SpeakerStreamChanged) and
  a line in the info bar, never a crash.

MetalLB's core/v1 Events about Services (the controller's IPAllocated and AllocationFailed,
the speakers' nodeAssigned) are watched too (:class:`ServiceEvents`) and join the same stream
as ServiceEventObserved: the controller's side of the story, which no speaker stream tells.

The rooms, pure first (they touch no network), then the I/O:

- ``targets``: which pods to follow, and the info bar's line about them;
- ``catchup``: one speaker's events on the console's clock: the AnnouncementLedger, where a
  follower is in the stream, and catching up after a gap;
- ``service_events``: which of MetalLB's Events about Services are news;
- ``api``: the console's calls to the API server: GETs through the pod proxy, and list/watch
  narrowed by selectors;
- ``follower``: one thread following one speaker;
- ``streams``: the speaker pods, watched, one follower each, their events posted in batches;
- ``service_watch``: the watch of Events about Services;
- ``port``: KubePort, which starts the two watches next to the console runtime's LocalPort.
"""
