"""The Kubernetes adapter: reflectors, status writers, leader election, webhooks, certificates and
speaker discovery."""
