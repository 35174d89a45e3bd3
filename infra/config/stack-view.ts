// The stack's nodes as a service's options see them (infra/catalog/service-spec.ts NodeView): which
// services each enabled node runs and its volumes, from the validated config.
import type { NodeView } from "../catalog/service-spec.js";
import { SERVICE_CATALOG } from "../catalog/services.js";
import type { StackConfig } from "./keys.js";
import { listedServices, stackNodes } from "./stack-nodes.js";

export function stackView(config: StackConfig): NodeView[] {
  const everywhere = [
    ...Object.values(SERVICE_CATALOG)
      .filter((s) => s.baseline)
      .map((s) => s.name),
    ...(config.adminPath.mode === "tailscale" ? ["tailscale"] : []),
  ];
  return stackNodes(config).map((n) => ({
    key: n.key,
    name: n.name,
    services: [...everywhere, ...listedServices(n.config)],
    volumes: n.config.volumes.map((v) => ({ mountPoint: v.mountPoint, sizeGb: v.sizeGb })),
  }));
}
