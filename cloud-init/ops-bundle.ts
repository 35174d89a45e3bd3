// The operations bundle (ADR 0002): what a node gets over the admin path after boot instead of in
// user-data. The backup, recovery and release scripts and the monitoring configs change more often
// than the boot baseline, are not needed to boot safely, and would push user-data past Hetzner's 32 KiB.
// Pulumi pushes it with `xiopro-ops apply` whenever its hash changes; the node checks it first.
import type { NodePlan, Plan } from "../infra/plan/index.js";
import { monitoringFiles } from "./monitoring.js";
import { guardScript, recoveryScripts, serviceFiles, tarGz, type WriteFile } from "./render.js";

export function opsFiles(plan: Plan, node: NodePlan): WriteFile[] {
  return [...serviceFiles(plan, node, true), ...recoveryScripts(node), guardScript(), ...monitoringFiles(plan, node)];
}

/** Base64 tar.gz of the node's operations bundle (every node has one: xiopro-guard is in each). */
export function opsBundle(plan: Plan, node: NodePlan): string | undefined {
  const files = opsFiles(plan, node);
  return files.length === 0 ? undefined : tarGz(files).toString("base64");
}
