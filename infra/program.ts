// The stack program: config → plan → components → outputs. The Pulumi entry (infra/index.ts) and
// the offline plan (scripts/plan) both run exactly this.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { configBundle, renderUserData } from "../cloud-init/render";
import { Platform } from "./components/platform";
import { PROJECT } from "./config/keys";
import { formatProblems, loadConfig, type RawConfig } from "./config/load";
import { buildPlan, type Plan } from "./plan";
import { topologyMermaid } from "./plan/topology";

/** Config as the Pulumi engine passed it to this process. */
export function rawConfigFromRuntime(): RawConfig {
  const values = pulumi.runtime.allConfig();
  // isConfigSecret is not in the public typings, but it is the engine's own record of secret keys.
  const rt = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
  const secretKeys = new Set(Object.keys(values).filter((k) => rt.isConfigSecret?.(k) ?? false));
  return { values, secretKeys };
}

/** Validates config and builds the plan; throws a stack-trace-free RunError listing every problem. */
export function planFromRuntime(stack: string): Plan {
  const loaded = loadConfig(rawConfigFromRuntime());
  if (!loaded.ok) throw new pulumi.RunError(formatProblems(stack, loaded.problems));
  return buildPlan(loaded.config, stack);
}


export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

export async function runProgram(): Promise<Record<string, unknown>> {
  const stack = pulumi.getStack();
  const plan = planFromRuntime(stack);
  const config = new pulumi.Config(PROJECT);
  const configSecret = (key: string, entry?: string): pulumi.Output<string> =>
    entry === undefined ? config.requireSecret(key) : config.requireSecretObject<Record<string, string>>(key).apply((o) => o[entry]!);
  const platform = new Platform(`${PROJECT}-${stack}`, {
    plan,
    renderUserData: (node, volumeIds, tailscaleAuthKey) => renderUserData(plan, node, { volumeIds, tailscaleAuthKey }),
    configBundle: (node) => configBundle(plan, node),
    configSecret,
  });

  const nodes = Object.fromEntries(
    plan.nodes.map((n) => {
      const res = platform.nodes[n.key]!;
      return [
        n.key,
        pulumi.output({
          name: n.name,
          fqdn: n.fqdn,
          role: n.role,
          serverType: n.serverType,
          location: n.location,
          privateIp: n.privateIp,
          publicIpv4: res.publicIpv4,
          publicIpv6: res.publicIpv6,
          sites: n.sites.map((s) => s.hostname),
          volumes: n.volumes.map((v, i) => ({ name: v.name, mountPoint: v.mountPoint, sizeGb: v.sizeGb, volumeId: res.volumes[i]!.id })),
          userDataSha256: res.userData.apply(sha256),
          userDataBytes: res.userData.apply((u) => Buffer.byteLength(u)),
        }),
      ];
    }),
  );
  return {
    environment: plan.environment,
    adminPath: plan.adminPath.mode,
    nodes,
    dnsRecords: platform.dns.records,
    exposureMatrix: plan.exposure,
    cost: plan.cost,
    topology: topologyMermaid(plan),
  };
}
