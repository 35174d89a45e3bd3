// The distro packages every node installs (docs/architecture.md D1: distro packages and our own
// units, no Docker for the platform); each service's own are in its descriptor (infra/catalog/services/).
// Tailscale and Grafana come from their vendors' apt repositories, installed by the node scripts.
import { SERVICE_CATALOG } from "../catalog/services.js";
import type { NodePlan, Plan } from "./index.js";

/** Installed on every node: the host baseline (firewall, updates, time) and the tools its scripts use. */
export const HOST_PACKAGES: readonly string[] = [
  "nftables",
  "unattended-upgrades",
  "systemd-timesyncd",
  "jq",
  "curl",
  "ca-certificates",
];

/** Baseline services run on every node, listed or not. */
const runs = (node: NodePlan, service: string) =>
  SERVICE_CATALOG[service]?.baseline === true || node.services.some((s) => s.name === service);

/** The packages a node needs, from its services (distro packages only, docs/architecture.md D1). */
export function packagesFor(plan: Pick<Plan, "adminPath">, node: NodePlan): string[] {
  const withAllowlist = plan.adminPath.sshAllowlist.length > 0;
  // Once each: services share packages (every agent unit brings postgresql-client).
  return unique([
    ...HOST_PACKAGES,
    // xfs_growfs (xiopro-volumes grow); ext4's resize2fs is in every image.
    ...(node.volumes.some((v) => v.filesystem === "xfs") ? ["xfsprogs"] : []),
    ...Object.values(SERVICE_CATALOG)
      .filter((s) => s.packages && runs(node, s.name) && (!s.packages.onlyWithSshAllowlist || withAllowlist))
      .flatMap((s) => [
        ...s.packages!.names,
        ...(node.services.find((p) => p.name === s.name)?.additions.packages ?? []),
      ]),
  ]);
}

const unique = (names: string[]): string[] => [...new Set(names)];
