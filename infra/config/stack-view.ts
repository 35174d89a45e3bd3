// The stack's nodes as a service's options see them (infra/catalog/service-spec.ts NodeView): which
// services each enabled node runs and its volumes, from the validated config.
import type { NodeView } from "../catalog/service-spec.js";
import { SERVICE_CATALOG } from "../catalog/services.js";
import { nodeName } from "./names.js";
import { NODE_KEYS, type StackConfig } from "./keys.js";

export function stackView(config: StackConfig): NodeView[] {
  const everywhere = [
    ...Object.values(SERVICE_CATALOG)
      .filter((s) => s.baseline)
      .map((s) => s.name),
    ...(config.adminPath.mode === "tailscale" ? ["tailscale"] : []),
  ];
  return NODE_KEYS.filter((k) => config[k].enabled).map((key) => ({
    key,
    name: nodeName(config.environment, key),
    services: [...everywhere, ...config[key].services.map((s) => (typeof s === "string" ? s : s.name))],
    volumes: config[key].volumes.map((v) => ({ mountPoint: v.mountPoint, sizeGb: v.sizeGb })),
  }));
}
