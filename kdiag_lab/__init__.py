"""kdiag_lab: the practice cluster (upstream binaries, network namespaces, a lab kubelet).

Installed with `kdiag[lab]`; it registers `kdiag lab` through the `kdiag.commands` entry point.
It may use kdiag.cluster.client; nothing in kdiag imports it.
"""
