import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { SecretPlan } from "../config/secrets.js";
import * as command from "@pulumi/command";
import { createHash } from "node:crypto";
import {
  APPLY_OPS_COMMAND,
  applyConfigCommand,
  CONFIRM_CONFIG_COMMAND,
  Credentials,
  GROW_VOLUMES_COMMAND,
} from "./credentials.js";
import { ADMIN_USER } from "../catalog/layout.js";
import { LOAD_BALANCER_RECORD, type NodePlan, type Plan } from "../plan/index.js";
import { Dns, type DnsArgs } from "./dns.js";
import { Balancer } from "./load-balancer.js";
import { PrivateNetwork } from "./network.js";
import { Node, type RepositoryFacts } from "./node.js";

export interface PlatformArgs {
  plan: Plan;
  /** Renders a node's user-data given its volume ids (and the tailnet join key, if any). */
  renderUserData: (
    node: NodePlan,
    volumeIds: Record<string, string>,
    tailscaleAuthKey?: string,
    repository?: RepositoryFacts,
  ) => string;
  /** Host and user of the Storage Box the stack creates, when it does (rendered into the nodes' configs). */
  repository?: pulumi.Output<RepositoryFacts>;
  /** A node's files as base64 tar.gz, pushed over the admin path under userDataChange: in-place. */
  configBundle: (node: NodePlan, repository?: RepositoryFacts) => string;
  /** A node's operations bundle (recovery tools, monitoring configs) as base64 tar.gz (ADR 0002). */
  opsBundle: (node: NodePlan) => string | undefined;
  /** The value of a config-sourced secret (from `pulumi config set --secret`). */
  configSecret: (key: string, entry?: string) => pulumi.Output<string>;
  /** The label selector of a node's baked snapshots (its image and package set, infra/plan/bake.ts). */
  bakeSelector: (node: NodePlan) => string;
}

/** The whole stack: network, placement group, SSH keys, nodes and DNS, mapped 1:1 from the plan. */
export class Platform extends pulumi.ComponentResource {
  public readonly network: PrivateNetwork;
  public readonly nodes: Record<string, Node>;
  public readonly balancer?: Balancer;
  public readonly dns: Dns;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("xiopro:infra:Platform", name, {}, opts);
    const p = args.plan;
    const labels = { env: p.environment, "managed-by": "xiopro-infra", stack: p.stack };
    this.network = new PrivateNetwork(
      `${name}-net`,
      { network: p.network, deleteProtection: p.protection.deleteProtection, labels },
      { parent: this },
    );
    const placement = new hcloud.PlacementGroup(
      `${name}-spread`,
      { name: p.placementGroup.name, type: p.placementGroup.type, labels },
      { parent: this },
    );
    const keys = p.sshKeys.map(
      (k, i) =>
        new hcloud.SshKey(`${name}-admin-${i + 1}`, { name: k.name, publicKey: k.publicKey, labels }, { parent: this }),
    );
    this.nodes = {};
    for (const n of p.nodes) {
      this.nodes[n.key] = new Node(
        `${name}-${n.short}`,
        {
          node: n,
          protection: p.protection,
          userDataChange: p.userDataChange,
          renderUserData: (ids, key, repo) => args.renderUserData(n, ids, key, repo),
          ...(n.baked ? { bakeSelector: args.bakeSelector(n) } : {}),
          repository: args.repository,
          tailscaleAuthKey: p.adminPath.mode === "tailscale" ? args.configSecret("tailscaleAuthKey") : undefined,
          networkId: this.network.networkId,
          subnet: this.network.subnet,
          placementGroupId: placement.id.apply(Number),
          sshKeyIds: keys.map((k) => k.id),
        },
        { parent: this },
      );
    }
    if (p.loadBalancer)
      this.balancer = new Balancer(
        `${name}-lb`,
        {
          balancer: p.loadBalancer,
          pulumiProtect: p.protection.pulumiProtect,
          networkId: this.network.networkId,
          subnet: this.network.subnet,
          servers: Object.fromEntries(Object.entries(this.nodes).map(([k, node]) => [k, node.server])),
        },
        { parent: this },
      );
    const addresses: DnsArgs["addresses"] = Object.fromEntries(
      Object.entries(this.nodes).map(([k, node]) => [k, { ipv4: node.publicIpv4, ipv6: node.publicIpv6 }]),
    );
    if (this.balancer) addresses[LOAD_BALANCER_RECORD] = { ipv4: this.balancer.ipv4, ipv6: this.balancer.ipv6 };
    this.dns = new Dns(
      `${name}-dns`,
      {
        dns: p.dns,
        deleteProtection: p.protection.deleteProtection,
        pulumiProtect: p.protection.pulumiProtect,
        labels,
        addresses,
      },
      { parent: this },
    );
    // Generated secrets (database role passwords) belong to the stack: one random value each.
    const generated = new Map<string, pulumi.Output<string>>();
    const valueOf = (s: SecretPlan): pulumi.Output<string> => {
      if (s.source === "config") return args.configSecret(s.configKey!, s.configEntry);
      if (!generated.has(s.file))
        generated.set(
          s.file,
          new random.RandomPassword(`${name}-${s.file}`, { length: 32, special: false }, { parent: this }).result,
        );
      return generated.get(s.file)!;
    };
    const adminHost = (n: NodePlan) =>
      p.adminPath.mode === "tailscale"
        ? pulumi.output(n.name)
        : this.nodes[n.key]!.publicIpv4.apply((a) => a ?? n.fqdn);
    // In-place: the node's own files (its scripts and layout.env) land before the operations bundle
    // whose recovery tools use them.
    const config: Record<string, command.remote.Command> = {};
    if (p.userDataChange === "in-place") {
      // Pulumi ignores user-data changes on these servers (no replacement); the same files reach
      // the node here instead, and bootstrap re-applies them (it is idempotent).
      for (const n of p.nodes) {
        const connection = {
          host: adminHost(n),
          user: ADMIN_USER,
          privateKey: args.configSecret("adminSshPrivateKey"),
        };
        const bundle = pulumi.output(args.repository).apply((r) => args.configBundle(n, r));
        const apply = new command.remote.Command(
          `${name}-${n.short}-config`,
          {
            connection,
            create: applyConfigCommand(p.adminPath.confirmSeconds),
            stdin: bundle,
            triggers: [this.nodes[n.key]!.server.id],
          },
          { parent: this, dependsOn: [this.nodes[n.key]!.server] },
        );
        // A connection of its own, through the configuration just applied: if that cut the admin
        // path, this fails and the node reverts by itself (xiopro-guard).
        config[n.key] = new command.remote.Command(
          `${name}-${n.short}-config-confirm`,
          {
            connection,
            create: CONFIRM_CONFIG_COMMAND,
            triggers: [this.nodes[n.key]!.server.id, bundle.apply((b) => createHash("sha256").update(b).digest("hex"))],
          },
          { parent: this, dependsOn: [apply] },
        );
      }
    }
    // The operations bundle always travels over the admin path, never in user-data: a rule,
    // dashboard or recovery-tool change re-pushes it (its hash is a trigger), never replaces a server.
    const ops: Record<string, command.remote.Command> = {};
    for (const n of p.nodes) {
      const bundle = args.opsBundle(n);
      if (bundle === undefined) continue;
      ops[n.key] = new command.remote.Command(
        `${name}-${n.short}-ops`,
        {
          connection: { host: adminHost(n), user: ADMIN_USER, privateKey: args.configSecret("adminSshPrivateKey") },
          create: APPLY_OPS_COMMAND,
          stdin: bundle,
          triggers: [this.nodes[n.key]!.server.id, createHash("sha256").update(bundle).digest("hex")],
        },
        { parent: this, dependsOn: [this.nodes[n.key]!.server, ...(config[n.key] ? [config[n.key]!] : [])] },
      );
    }
    // A larger sizeGb resizes the Hetzner volume in place (a smaller one is refused before this:
    // infra/config/deployed.ts); then the node grows the mounted filesystem, online. Each size is a
    // trigger, so the command runs again after every resize.
    for (const n of p.nodes.filter((x) => x.volumes.length > 0)) {
      const node = this.nodes[n.key]!;
      new command.remote.Command(
        `${name}-${n.short}-volumes-grow`,
        {
          connection: { host: adminHost(n), user: ADMIN_USER, privateKey: args.configSecret("adminSshPrivateKey") },
          create: GROW_VOLUMES_COMMAND,
          triggers: [node.server.id, ...node.volumes.map((v) => v.size)],
        },
        { parent: this, dependsOn: [...node.volumeAttachments, ...(config[n.key] ? [config[n.key]!] : [])] },
      );
    }
    for (const n of p.nodes.filter((x) => x.secrets.length > 0)) {
      const node = this.nodes[n.key]!;
      new Credentials(
        `${name}-${n.short}-credentials`,
        {
          node: n,
          host: adminHost(n),
          user: ADMIN_USER,
          privateKey: args.configSecret("adminSshPrivateKey"),
          serverId: node.server.id,
          values: Object.fromEntries(n.secrets.map((s) => [s.file, valueOf(s)])),
        },
        // The first backup ends with the restore drill, a tool of the operations bundle.
        { parent: this, dependsOn: [node.server, ...(ops[n.key] ? [ops[n.key]!] : [])] },
      );
    }
    this.registerOutputs({});
  }
}
