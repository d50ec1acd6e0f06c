"""What a trace was asked to do, refused at construction when a flag is wrong (exit 2, no cluster
needed). Which checks the agent runs is the model's choice (kdiag.model.plan)."""

from __future__ import annotations

from dataclasses import dataclass

from kdiag.defaults import PROBE_IMAGE
from kdiag.errors import UsageError
from kdiag.model.plan import PROTOCOLS
from kdiag.model.service_targets import DEFAULT_MAX_ENDPOINTS
from kdiag.model.targets import special_address

MODES = ("auto", "pod", "ephemeral")
ENGINES = ("auto", "raw", "unprivileged")
# The probe pod's activeDeadlineSeconds is derived from --timeout; a day is far beyond any probe and
# far below what the API accepts, so an absurd value is refused here and never reaches the server.
MAX_TIMEOUT_SECONDS = 24 * 3600
# The agent checks at most 64 L4 targets in one run: the ClusterIP(s) and the endpoints.
MAX_ENDPOINTS = 60


@dataclass(frozen=True)
class TraceRequest:
    source: str  # NAME, NS/NAME or a unique prefix
    destination: str  # the same, or an IPv4 address
    namespace: str | None = None  # for references without NS/ (None: the context's namespace)
    port: int | None = None
    proto: str | None = None  # icmp | tcp | udp; None: tcp when a port is known, else icmp
    count: int = 3
    timeout: float = 60.0
    image: str = PROBE_IMAGE
    mode: str = "auto"  # auto: ephemeral when the policies would judge a probe pod differently from SRC
    engine: str = "auto"
    probe_namespace: str | None = None
    port_name: str | None = None  # --port NAME: a Service port by name (a Service destination only)
    max_endpoints: int = DEFAULT_MAX_ENDPOINTS  # endpoints of a Service probed directly
    observe: bool = False  # --observe: node observers on the path's nodes (kdiag.trace.observe)
    observer_namespace: str = "kube-system"

    def __post_init__(self) -> None:
        """The one validation of the flags: a TraceRequest that exists is a valid one."""
        if self.mode not in MODES:
            raise UsageError(f"unknown --mode {self.mode!r}", hint=f"choose {' or '.join(MODES)}")
        if self.engine not in ENGINES:
            raise UsageError(f"unknown --engine {self.engine!r}", hint=f"choose one of {', '.join(ENGINES)}")
        if self.proto is not None and self.proto not in PROTOCOLS:
            raise UsageError(f"unknown --proto {self.proto!r}", hint=f"choose one of {', '.join(PROTOCOLS)}")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise UsageError(f"--port {self.port} is out of range", hint="1-65535")
        if self.proto == "icmp" and self.port is not None:
            # kubectl refuses flags that cannot work together rather than dropping one silently.
            raise UsageError(f"--port {self.port} does not apply to --proto icmp (ICMP has no ports)",
                             hint="drop --port, or check the port with --proto tcp or udp")
        if self.port is not None and self.port_name:
            raise UsageError("--port is given both as a number and as a name")
        if self.proto == "icmp" and self.port_name:
            raise UsageError(f"--port {self.port_name} does not apply to --proto icmp (ICMP has no ports)",
                             hint="drop --port")
        if not 1 <= self.max_endpoints <= MAX_ENDPOINTS:
            raise UsageError(f"--max-endpoints {self.max_endpoints} is out of range",
                             hint=f"1-{MAX_ENDPOINTS}")
        if not 1 <= self.count <= 100:
            raise UsageError(f"--count {self.count} is out of range", hint="1-100")
        if self.timeout <= 0:
            raise UsageError("--timeout must be positive")
        if self.timeout > MAX_TIMEOUT_SECONDS:
            raise UsageError(f"--timeout {self.timeout:g}s is too long",
                             hint="at most 24h, e.g. --timeout 2m")
        special = special_address(self.destination)
        if special:
            raise UsageError(f"destination {self.destination} {special}",
                             hint="trace a pod, or a unicast address of a pod, node or service")
        if self.observer_namespace != "kube-system" and not self.observe:
            raise UsageError("--observer-namespace applies only with --observe")
        if self.mode == "ephemeral" and self.probe_namespace:
            raise UsageError("--probe-namespace does not apply to --mode ephemeral",
                             hint="an ephemeral container runs inside the source pod")
