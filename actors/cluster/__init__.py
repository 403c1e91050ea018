"""What the load balancer reads from Kubernetes: Services, EndpointSlices, Nodes, Namespaces."""
