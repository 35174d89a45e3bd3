// The distro packages of the platform: what every node installs, and what each catalog service adds
// (docs/architecture.md D1: distro packages and our own units, no Docker for the platform).
// cloud-init/packages.ts renders a node's list from these tables; docs/services.md lists them.
// Tailscale and Grafana come from their vendors' apt repositories, installed by the node scripts.

/** Installed on every node: the host baseline (firewall, updates, time) and the tools its scripts use. */
export const HOST_PACKAGES: readonly string[] = [
  "nftables",
  "unattended-upgrades",
  "systemd-timesyncd",
  "jq",
  "curl",
  "ca-certificates",
];

export interface ServicePackages {
  service: string;
  packages: readonly string[];
  /** Installed only when the stack has an SSH allowlist (`adminPath.sshAllowlist`), i.e. sshd faces the internet. */
  onlyWithSshAllowlist?: true;
  /** Why, where the package is not the obvious one. */
  note?: string;
}

/** Distro packages per catalog service, in install order (the order is part of the rendered user-data). */
export const SERVICE_PACKAGES: readonly ServicePackages[] = [
  { service: "node-exporter", packages: ["prometheus-node-exporter"] },
  { service: "ingress", packages: ["caddy"] },
  { service: "postgresql", packages: ["postgresql"] },
  { service: "postgres-exporter", packages: ["prometheus-postgres-exporter"] },
  { service: "backup", packages: ["pgbackrest", "restic"] },
  {
    service: "wal-receiver",
    packages: ["postgresql-client"],
    note: "pg_receivewal comes with the client tools (the distro's default major version)",
  },
  {
    service: "monitoring",
    packages: ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"],
  },
  {
    service: "grafana",
    packages: ["gpg"],
    note: "Grafana comes from Grafana's own repository (xiopro-monitoring pins its key); gpg checks it",
  },
  {
    service: "sshd",
    packages: ["fail2ban", "python3-systemd"],
    onlyWithSshAllowlist: true,
    note: "fail2ban's systemd backend needs python3-systemd (a Recommends, which nodes do not install)",
  },
];
