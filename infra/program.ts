// The stack program: config → plan → components → outputs. The Pulumi entry (infra/index.ts) and
// the offline plan (scripts/plan) both run exactly this.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { opsBundle } from "../cloud-init/ops-bundle.js";
import { configBundle, renderUserData } from "../cloud-init/render.js";
import { bakeSetFor } from "./plan/bake.js";
import type { RepositoryFacts } from "./components/node.js";
import { Platform } from "./components/platform.js";
import { BackupStorageBox } from "./components/storage-box.js";
import { storageBoxPlan, withStorageBox } from "./plan/storage-box.js";
import { PROJECT } from "./config/keys.js";
import { deployedFromOutputs, deployedProblems, NOTHING_DEPLOYED, type Deployed } from "./config/deployed.js";
import { formatProblems, loadConfig, type RawConfig } from "./config/load.js";
import { readStackFile, stackFilePath } from "./config/stack-file.js";
import { buildPlan, type NodePlan, type Plan } from "./plan/index.js";
import { topologyMermaid } from "./plan/topology.js";

/** Config as the Pulumi engine passed it to this process. */
export function rawConfigFromRuntime(): RawConfig {
  const values = pulumi.runtime.allConfig();
  // isConfigSecret is not in the public typings, but it is the engine's own record of secret keys.
  const rt = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
  const secretKeys = new Set(Object.keys(values).filter((k) => rt.isConfigSecret?.(k) ?? false));
  return { values, secretKeys };
}

/** Where Pulumi.yaml and the stack files are: the engine runs the program from there. */
const PROJECT_DIR = path.resolve(import.meta.dirname, "..");

/**
 * Validates config and builds the plan; throws a stack-trace-free RunError listing every problem.
 * The stack file is read too: the engine hands a map with encrypted and plain leaves over as one
 * secret, so only the file shows a leaf that was set without --secret.
 */
export function planFromRuntime(stack: string, projectDir = PROJECT_DIR, deployed = NOTHING_DEPLOYED): Plan {
  const file = fs.existsSync(stackFilePath(projectDir, stack)) ? readStackFile(projectDir, stack) : undefined;
  const loaded = loadConfig(rawConfigFromRuntime());
  const problems = [
    ...(file && !file.ok ? file.problems : []),
    ...(loaded.ok ? deployedProblems(loaded.config, deployed) : loaded.problems),
  ];
  if (problems.length > 0 || !loaded.ok) throw new pulumi.RunError(formatProblems(stack, problems));
  for (const n of loaded.notices) void pulumi.log.warn(`${n.key}: ${n.message}`);
  return buildPlan(loaded.config, stack);
}

export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * SHA-256 of a node's user-data rendered with stand-ins for the facts that differ per deployment
 * (volume ids, the single-use join key). The offline plan and the deployed stack export the same
 * value exactly when the rendered content is the same, so the cost diff can tell a user-data change
 * (a replacement under `userDataChange: replace`) from none.
 */
export function userDataFingerprint(plan: Plan, node: NodePlan): string {
  const volumeIds = Object.fromEntries(node.volumes.map((v) => [v.key, `volume-${v.key}`]));
  return sha256(
    renderUserData(plan, node, {
      volumeIds,
      tailscaleAuthKey: plan.adminPath.mode === "tailscale" ? "tailscale-join-key" : undefined,
    }),
  );
}

/**
 * The stack's own outputs from its last `pulumi up` (a read of the state backend, no cloud call):
 * what config changes are checked against. A new stack has none.
 */
async function readDeployed(stack: string): Promise<Deployed> {
  const self = new pulumi.StackReference(`${PROJECT}-deployed`, {
    name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${stack}`,
  });
  const nodes = await self.getOutputDetails("nodes");
  return deployedFromOutputs(nodes.value ?? nodes.secretValue);
}

export async function runProgram(): Promise<Record<string, unknown>> {
  const stack = pulumi.getStack();
  const plan = planFromRuntime(stack, PROJECT_DIR, await readDeployed(stack));
  const config = new pulumi.Config(PROJECT);
  const configSecret = (key: string, entry?: string): pulumi.Output<string> =>
    entry === undefined
      ? config.requireSecret(key)
      : config.requireSecretObject<Record<string, string>>(key).apply((o) => o[entry]!);
  // backup.repository.createStorageBox: the box and its sub-account first; their host and user go
  // into the nodes' rendered repository settings.
  const boxPlan = storageBoxPlan(plan);
  const storageBox = boxPlan
    ? new BackupStorageBox(`${PROJECT}-${stack}-backups`, {
        box: boxPlan,
        privateKey: configSecret("backupSftpPrivateKey"),
      })
    : undefined;
  const repository = storageBox
    ? pulumi.all([storageBox.host, storageBox.user]).apply(([host, user]) => ({ host, user }))
    : undefined;
  const planWith = (r?: RepositoryFacts) => (r ? withStorageBox(plan, r) : plan);
  const platform = new Platform(`${PROJECT}-${stack}`, {
    plan,
    repository,
    renderUserData: (node, volumeIds, tailscaleAuthKey, repo) =>
      renderUserData(planWith(repo), node, { volumeIds, tailscaleAuthKey }),
    configBundle: (node, repo) => configBundle(planWith(repo), node),
    opsBundle: (node) => opsBundle(plan, node),
    configSecret,
    bakeSelector: (node) => bakeSetFor(plan, node).selector,
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
          image: n.image,
          backups: n.backups,
          userDataChange: plan.userDataChange,
          privateIp: n.privateIp,
          publicIpv4: res.publicIpv4,
          publicIpv6: res.publicIpv6,
          sites: n.sites.map((s) => s.hostname),
          volumes: n.volumes.map((v, i) => ({
            name: v.name,
            mountPoint: v.mountPoint,
            sizeGb: v.sizeGb,
            volumeId: res.volumes[i]!.id,
          })),
          userDataSha256: res.userData.apply(sha256),
          userDataBytes: res.userData.apply((u) => Buffer.byteLength(u)),
          userDataFingerprint: userDataFingerprint(plan, n),
        }),
      ];
    }),
  );
  return {
    environment: plan.environment,
    adminPath: plan.adminPath.mode,
    nodes,
    dnsRecords: platform.dns.records,
    ...(platform.balancer && plan.loadBalancer
      ? {
          loadBalancer: {
            name: plan.loadBalancer.name,
            ipv4: platform.balancer.ipv4,
            ipv6: platform.balancer.ipv6,
            privateIp: plan.loadBalancer.privateIp,
            targets: plan.loadBalancer.targets,
            sites: plan.loadBalancer.certificate.domains,
          },
        }
      : {}),
    exposureMatrix: plan.exposure,
    cost: plan.cost,
    topology: topologyMermaid(plan),
    ...(storageBox
      ? { backupStorageBox: { storageBoxId: storageBox.box.id, host: storageBox.host, user: storageBox.user } }
      : {}),
  };
}
