import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import type { Plan } from "../plan/index.js";

export interface PrivateNetworkArgs {
  network: Plan["network"];
  deleteProtection: boolean;
  labels: Record<string, string>;
}

/** The private network and the one cloud subnet the nodes live in. */
export class PrivateNetwork extends pulumi.ComponentResource {
  public readonly network: hcloud.Network;
  public readonly subnet: hcloud.NetworkSubnet;
  public readonly networkId: pulumi.Output<number>;

  constructor(name: string, args: PrivateNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("xiopro:infra:PrivateNetwork", name, {}, opts);
    this.network = new hcloud.Network(
      name,
      {
        name: args.network.name,
        ipRange: args.network.cidr,
        deleteProtection: args.deleteProtection,
        labels: args.labels,
      },
      { parent: this },
    );
    this.networkId = this.network.id.apply(Number);
    this.subnet = new hcloud.NetworkSubnet(
      `${name}-subnet`,
      { networkId: this.networkId, type: "cloud", networkZone: args.network.networkZone, ipRange: args.network.subnet },
      { parent: this },
    );
    this.registerOutputs({ networkId: this.networkId });
  }
}
