"""The `kdiag trace` use case: orchestration only (request -> ends -> checks -> probe -> judged result).

Layers: kdiag.cli calls this; this calls kdiag.cluster (API, workloads) and kdiag.model (pure rules).
"""
