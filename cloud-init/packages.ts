// The distro packages a node needs (docs/architecture.md D1: no Docker for the platform): the host's
// (infra/plan/packages.ts), then each service's from its descriptor, in catalog order, each followed
// by what its options add.
import type { NodePlan, Plan } from "../infra/plan/index.js";
import { HOST_PACKAGES } from "../infra/plan/packages.js";
import { SERVICE_CATALOG } from "../infra/catalog/services.js";

/** Baseline services run on every node, listed or not. */
const runs = (node: NodePlan, service: string) =>
  SERVICE_CATALOG[service]?.baseline === true || node.services.some((s) => s.name === service);

/** The packages a node needs, from its services (distro packages only, docs/architecture.md D1). */
export function packagesFor(plan: Plan, node: NodePlan): string[] {
  const withAllowlist = plan.adminPath.sshAllowlist.length > 0;
  return [
    ...HOST_PACKAGES,
    ...Object.values(SERVICE_CATALOG)
      .filter((s) => s.packages && runs(node, s.name) && (!s.packages.onlyWithSshAllowlist || withAllowlist))
      .flatMap((s) => [
        ...s.packages!.names,
        ...(node.services.find((p) => p.name === s.name)?.additions.packages ?? []),
      ]),
  ];
}
