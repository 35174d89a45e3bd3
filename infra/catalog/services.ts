// The service catalog: every service the toolkit knows, its systemd units, and every interface it
// listens on with exposure class, owner, access method and justification (docs/architecture.md D5,
// docs/architecture.md, seed 000 §9.9.5).
// Cloud firewall, host firewall, acceptance port scan and docs all derive from this table.
/** Exposure classes: A public, B admin overlay, C private network, D localhost. */
export const EXPOSURE_CLASSES = ["A", "B", "C", "D"] as const;
export type ExposureClass = (typeof EXPOSURE_CLASSES)[number];

/** Where the socket is bound; the class says who may reach it. */
export type Bind = "all" | "private" | "localhost";

export interface InterfaceSpec {
  name: string;
  port: number;
  protocol: "tcp" | "udp";
  class: ExposureClass;
  bind: Bind;
  owner: string;
  access: string;
  justification: string;
  /** A localhost interface a public site may put behind Caddy; no other platform port may be published. */
  siteUpstream?: true;
}

export interface ServiceSpec {
  name: string;
  description: string;
  /** Long-running units that must be active. */
  units: string[];
  /** Timers that must be scheduled. */
  timers: string[];
  interfaces: InterfaceSpec[];
  /** Services on every node whether listed or not. */
  baseline?: boolean;
  /** At most one node may run it. */
  singleton?: boolean;
}

export const ACCESS: Record<ExposureClass, string> = {
  A: "public internet through the cloud and host firewalls",
  B: "admin overlay (Tailscale) or the SSH allowlist",
  C: "private network, from the subnet only",
  D: "localhost only",
};

const PLATFORM = "platform";

// No prototype: a service named "constructor" or "toString" is simply not in the catalog.
export const SERVICE_CATALOG: Record<string, ServiceSpec> = Object.assign(
  Object.create(null) as Record<string, ServiceSpec>,
  {
    sshd: {
      name: "sshd",
      description: "OpenSSH, the admin path",
      units: ["ssh.service"],
      timers: [],
      baseline: true,
      interfaces: [
        {
          name: "ssh",
          port: 22,
          protocol: "tcp",
          class: "B",
          bind: "all",
          owner: PLATFORM,
          access: ACCESS.B,
          justification: "Operator administration and recovery; keys only, never public",
        },
      ],
    },
    "node-exporter": {
      name: "node-exporter",
      description: "Prometheus node exporter (host metrics)",
      units: ["prometheus-node-exporter.service"],
      timers: [],
      baseline: true,
      interfaces: [
        {
          name: "node-metrics",
          port: 9100,
          protocol: "tcp",
          class: "C",
          bind: "private",
          owner: PLATFORM,
          access: ACCESS.C,
          justification: "Host metrics scraped by Prometheus over the private network",
        },
      ],
    },
    tailscale: {
      name: "tailscale",
      description: "Tailscale daemon (admin overlay)",
      units: ["tailscaled.service"],
      timers: [],
      interfaces: [
        {
          name: "wireguard",
          port: 41641,
          protocol: "udp",
          class: "B",
          bind: "all",
          owner: PLATFORM,
          access: "outbound NAT traversal only; no inbound opening in any firewall",
          justification: "WireGuard transport of the admin overlay",
        },
      ],
    },
    ingress: {
      name: "ingress",
      description: "Caddy reverse proxy with automatic HTTPS",
      units: ["caddy.service"],
      timers: [],
      singleton: false,
      interfaces: [
        {
          name: "http",
          port: 80,
          protocol: "tcp",
          class: "A",
          bind: "all",
          owner: PLATFORM,
          access: ACCESS.A,
          justification: "HTTP→HTTPS redirect and ACME HTTP-01 challenges",
        },
        {
          name: "https",
          port: 443,
          protocol: "tcp",
          class: "A",
          bind: "all",
          owner: PLATFORM,
          access: ACCESS.A,
          justification: "Public HTTPS ingress for the declared sites",
        },
        {
          name: "http3",
          port: 443,
          protocol: "udp",
          class: "A",
          bind: "all",
          owner: PLATFORM,
          access: ACCESS.A,
          justification: "HTTP/3 (QUIC) for the declared sites",
        },
        {
          name: "caddy-admin",
          port: 2019,
          protocol: "tcp",
          class: "D",
          bind: "localhost",
          owner: PLATFORM,
          access: ACCESS.D,
          justification: "Caddy admin API used for graceful config reloads",
        },
        {
          name: "caddy-metrics",
          port: 9180,
          protocol: "tcp",
          class: "C",
          bind: "private",
          owner: PLATFORM,
          access: ACCESS.C,
          justification: "Caddy's request metrics scraped by Prometheus (the admin API itself stays on localhost)",
        },
      ],
    },
    "agentd-web": {
      name: "agentd-web",
      description: "Agent runtime HTTP API (FastAPI/uvicorn), behind Caddy",
      units: ["agentd-web.service"],
      timers: [],
      interfaces: [
        {
          name: "agentd-http",
          port: 8000,
          protocol: "tcp",
          class: "D",
          bind: "localhost",
          owner: "agent-runtime",
          access: ACCESS.D,
          justification: "Upstream of the Caddy sites; never reached directly",
          siteUpstream: true,
        },
      ],
    },
    "agentd-worker": {
      name: "agentd-worker",
      description: "Agent workers (agentd-worker@N), leasing tasks from PostgreSQL",
      units: [],
      timers: [],
      interfaces: [],
    },
    "agentd-sweeper": {
      name: "agentd-sweeper",
      description: "Requeues expired leases and enforces TTLs (timer)",
      units: [],
      timers: ["agentd-sweeper.timer"],
      interfaces: [],
    },
    postgresql: {
      name: "postgresql",
      description: "PostgreSQL (distro package) with data on a Hetzner Volume",
      units: ["postgresql.service", "xiopro-postgres-roles.service"],
      timers: [],
      singleton: true,
      interfaces: [
        {
          name: "postgres-local",
          port: 5432,
          protocol: "tcp",
          class: "D",
          bind: "localhost",
          owner: PLATFORM,
          access: ACCESS.D,
          justification: "Local services and backups connect over localhost",
        },
        {
          name: "postgres-private",
          port: 5432,
          protocol: "tcp",
          class: "C",
          bind: "private",
          owner: PLATFORM,
          access: ACCESS.C,
          justification: "Services on other nodes connect over the private network (scram-sha-256)",
        },
      ],
    },
    "postgres-exporter": {
      name: "postgres-exporter",
      description: "Prometheus PostgreSQL exporter",
      units: ["prometheus-postgres-exporter.service"],
      timers: [],
      interfaces: [
        {
          name: "postgres-metrics",
          port: 9187,
          protocol: "tcp",
          class: "C",
          bind: "private",
          owner: PLATFORM,
          access: ACCESS.C,
          justification: "Database metrics scraped by Prometheus over the private network",
        },
      ],
    },
    monitoring: {
      name: "monitoring",
      description: "Prometheus, Alertmanager and the blackbox exporter (HTTPS and certificate probes)",
      units: ["prometheus.service", "prometheus-alertmanager.service", "prometheus-blackbox-exporter.service"],
      timers: [],
      singleton: true,
      interfaces: [
        {
          name: "prometheus",
          port: 9090,
          protocol: "tcp",
          class: "C",
          bind: "private",
          owner: PLATFORM,
          access: ACCESS.C,
          justification: "Metrics store and rule evaluation; Grafana and operators (through the admin path) query it",
        },
        {
          name: "alertmanager",
          port: 9093,
          protocol: "tcp",
          class: "D",
          bind: "localhost",
          owner: PLATFORM,
          access: ACCESS.D,
          justification: "Receives alerts from Prometheus on the same node; clustering is off, so no port 9094",
        },
        {
          name: "blackbox",
          port: 9115,
          protocol: "tcp",
          class: "D",
          bind: "localhost",
          owner: PLATFORM,
          access: ACCESS.D,
          justification: "Probes the public sites from the node for availability and certificate expiry",
        },
      ],
    },
    grafana: {
      name: "grafana",
      description: "Grafana with the provisioned dashboards (Grafana's apt repository)",
      units: ["grafana-server.service"],
      timers: [],
      singleton: true,
      interfaces: [
        {
          name: "grafana",
          port: 3000,
          protocol: "tcp",
          class: "B",
          bind: "all",
          owner: PLATFORM,
          access: "admin overlay (Tailscale); with an SSH allowlist only through an SSH tunnel",
          justification: "Dashboards for operators; never opened in the cloud firewall",
        },
      ],
    },
    "wal-receiver": {
      name: "wal-receiver",
      description:
        "pg_receivewal: streams the database's WAL to this node as it is written (RPO ≈ 0; synchronous when configured)",
      units: ["xiopro-walreceiver.service"],
      timers: ["xiopro-walreceiver-prune.timer"],
      singleton: true,
      // A client of the database's replication protocol: it listens on nothing.
      interfaces: [],
    },
    backup: {
      name: "backup",
      description: "pgBackRest and restic jobs with their timers, and the restore drill",
      units: [],
      timers: [],
      singleton: true,
      interfaces: [],
    },
  },
);

export const CATALOG_SERVICE_NAMES = Object.keys(SERVICE_CATALOG).sort();
