// The distro packages every node installs (docs/architecture.md D1: distro packages and our own
// units, no Docker for the platform); each service's own are in its descriptor (infra/catalog/services/).
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
