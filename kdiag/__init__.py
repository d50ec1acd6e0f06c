"""kdiag: connectivity diagnostics for live Kubernetes clusters."""

__version__ = "0.1.0"
