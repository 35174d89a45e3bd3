// The distro packages a node needs, from its services (DESIGN D1: no Docker for the platform).
import type { NodePlan, Plan } from "../infra/plan";

const has = (node: NodePlan, service: string) => node.services.some((s) => s.name === service);

/** The packages a node needs, from its services (distro packages only, DESIGN D1). */
export function packagesFor(plan: Plan, node: NodePlan): string[] {
  const pkgs = [
    "nftables",
    "unattended-upgrades",
    "systemd-timesyncd",
    "jq",
    "curl",
    "ca-certificates",
    "prometheus-node-exporter",
  ];
  if (has(node, "ingress")) pkgs.push("caddy");
  if (has(node, "postgresql")) pkgs.push("postgresql");
  if (has(node, "postgres-exporter")) pkgs.push("prometheus-postgres-exporter");
  if (has(node, "backup")) pkgs.push("pgbackrest", "restic");
  // pg_receivewal comes with the client tools (the distro's default major version).
  if (has(node, "wal-receiver")) pkgs.push("postgresql-client");
  if (has(node, "monitoring")) pkgs.push("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter");
  // Grafana comes from Grafana's own repository (xiopro-monitoring pins its key); gpg checks it.
  if (has(node, "grafana")) pkgs.push("gpg");
  // fail2ban's systemd backend needs python3-systemd (a Recommends, which nodes do not install).
  if (plan.adminPath.sshAllowlist.length > 0) pkgs.push("fail2ban", "python3-systemd");
  return pkgs;
}
