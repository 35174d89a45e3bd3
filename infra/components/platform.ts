import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import type { NodePlan, Plan } from "../plan";
import { Dns } from "./dns";
import { PrivateNetwork } from "./network";
import { Node } from "./node";

export interface PlatformArgs {
  plan: Plan;
  /** Renders a node's user-data given its volume ids. */
  renderUserData: (node: NodePlan, volumeIds: Record<string, string>) => string;
}

/** The whole stack: network, placement group, SSH keys, nodes and DNS, mapped 1:1 from the plan. */
export class Platform extends pulumi.ComponentResource {
  public readonly network: PrivateNetwork;
  public readonly nodes: Record<string, Node>;
  public readonly dns: Dns;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("xiopro:infra:Platform", name, {}, opts);
    const p = args.plan;
    const labels = { env: p.environment, "managed-by": "xiopro-infra", stack: p.stack };
    this.network = new PrivateNetwork(`${name}-net`, { network: p.network, deleteProtection: p.protection.deleteProtection, labels }, { parent: this });
    const placement = new hcloud.PlacementGroup(`${name}-spread`, { name: p.placementGroup.name, type: p.placementGroup.type, labels }, { parent: this });
    const keys = p.sshKeys.map((k, i) => new hcloud.SshKey(`${name}-admin-${i + 1}`, { name: k.name, publicKey: k.publicKey, labels }, { parent: this }));
    this.nodes = {};
    for (const n of p.nodes) {
      this.nodes[n.key] = new Node(
        `${name}-node-${n.letter}`,
        {
          node: n,
          protection: p.protection,
          userDataChange: p.userDataChange,
          renderUserData: (ids) => args.renderUserData(n, ids),
          networkId: this.network.networkId,
          subnet: this.network.subnet,
          placementGroupId: placement.id.apply(Number),
          sshKeyIds: keys.map((k) => k.id),
        },
        { parent: this },
      );
    }
    const addresses = Object.fromEntries(Object.entries(this.nodes).map(([k, node]) => [k, { ipv4: node.publicIpv4, ipv6: node.publicIpv6 }]));
    this.dns = new Dns(
      `${name}-dns`,
      { dns: p.dns, deleteProtection: p.protection.deleteProtection, pulumiProtect: p.protection.pulumiProtect, labels, addresses },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
