import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import type { NodePlan, Plan } from "../plan/index.js";
import { ipv6HostAddress } from "../plan/addresses.js";

export interface RepositoryFacts {
  host: string;
  user: string;
}

export interface NodeArgs {
  node: NodePlan;
  protection: Plan["protection"];
  userDataChange: Plan["userDataChange"];
  /** Renders the user-data once the volume ids (stable across server replacements) are known. */
  renderUserData: (
    volumeIds: Record<string, string>,
    tailscaleAuthKey?: string,
    repository?: RepositoryFacts,
  ) => string;
  /** Host and user of a Storage Box the stack creates (backup.repository.createStorageBox). */
  repository?: pulumi.Output<RepositoryFacts>;
  /** The single-use tailnet join key (secret): the user-data then becomes a secret too. */
  tailscaleAuthKey?: pulumi.Input<string>;
  /**
   * Set when the node is baked: its server is created from the newest snapshot with this label
   * selector (npm run bake); a server that exists keeps its image when a newer snapshot appears.
   */
  bakeSelector?: string;
  networkId: pulumi.Input<number>;
  /** The subnet must exist before a server asks for an address in it. */
  subnet: pulumi.Resource;
  placementGroupId: pulumi.Input<number>;
  sshKeyIds: pulumi.Input<string>[];
}

/**
 * One Hetzner server with everything that must outlive it: primary IPs, volumes (and their
 * attachments), reverse DNS. The firewall is handed to the server at creation (`firewallIds`),
 * so the server never boots unfiltered.
 */
export class Node extends pulumi.ComponentResource {
  public readonly firewall: hcloud.Firewall;
  public readonly server: hcloud.Server;
  public readonly ipv4?: hcloud.PrimaryIp;
  public readonly ipv6?: hcloud.PrimaryIp;
  public readonly volumes: hcloud.Volume[];
  public readonly volumeAttachments: hcloud.VolumeAttachment[];
  public readonly userData: pulumi.Output<string>;
  /** The public addresses the server answers on (IPv6: the ::1 host of its /64). */
  public readonly publicIpv4: pulumi.Output<string | undefined>;
  public readonly publicIpv6: pulumi.Output<string | undefined>;

  constructor(name: string, args: NodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("xiopro:infra:Node", name, {}, opts);
    const n = args.node;
    const stateful = { parent: this, protect: args.protection.pulumiProtect };
    const del = args.protection.deleteProtection;

    this.firewall = new hcloud.Firewall(
      `${name}-fw`,
      {
        name: n.firewall.name,
        labels: n.labels,
        rules: n.firewall.rules.map((r) => ({
          direction: r.direction,
          protocol: r.protocol,
          port: r.port,
          sourceIps: r.sourceIps,
          description: r.description,
        })),
      },
      { parent: this },
    );

    const primaryIp = (family: "ipv4" | "ipv6") =>
      new hcloud.PrimaryIp(
        `${name}-${family}`,
        {
          name: `${n.name}-${family}`,
          type: family,
          assigneeType: "server",
          location: n.location,
          autoDelete: false,
          deleteProtection: del,
          labels: n.labels,
        },
        stateful,
      );
    this.ipv4 = n.publicIpv4 ? primaryIp("ipv4") : undefined;
    this.ipv6 = n.publicIpv6 ? primaryIp("ipv6") : undefined;

    // Volumes first: their ids go into the user-data (mount by /dev/disk/by-id), and they outlive servers.
    this.volumes = n.volumes.map(
      (v) =>
        new hcloud.Volume(
          `${name}-${v.key}`,
          {
            name: v.name,
            size: v.sizeGb,
            location: v.location,
            format: v.filesystem,
            deleteProtection: v.deleteProtection,
            labels: { ...n.labels, volume: v.key },
          },
          { parent: this, protect: v.pulumiProtect },
        ),
    );
    this.userData = pulumi
      .all([
        pulumi.all(this.volumes.map((v) => v.id)),
        pulumi.output(args.tailscaleAuthKey),
        pulumi.output(args.repository),
      ])
      .apply(([ids, key, repo]) =>
        args.renderUserData(Object.fromEntries(n.volumes.map((v, i) => [v.key, ids[i]!])), key, repo),
      );

    this.server = new hcloud.Server(
      name,
      {
        name: n.name,
        serverType: n.serverType,
        image: args.bakeSelector ? bakedImage(args.bakeSelector, n, { parent: this }) : n.image,
        location: n.location,
        labels: n.labels,
        sshKeys: args.sshKeyIds,
        firewallIds: [this.firewall.id.apply(Number)],
        placementGroupId: args.placementGroupId,
        publicNets: [
          {
            ipv4Enabled: n.publicIpv4,
            ipv4: this.ipv4?.id.apply(Number),
            ipv6Enabled: n.publicIpv6,
            ipv6: this.ipv6?.id.apply(Number),
          },
        ],
        networks: [{ networkId: args.networkId, ip: n.privateIp, aliasIps: [] }],
        userData: this.userData,
        backups: n.backups,
        deleteProtection: del,
        rebuildProtection: del,
        shutdownBeforeDeletion: true,
      },
      {
        parent: this,
        dependsOn: [args.subnet],
        // docs/architecture.md D6: the user-data policy is an explicit stack setting, never a silent default.
        // A baked node: a newer snapshot of its set is for the next server, not a reason to replace this one.
        ignoreChanges: [
          ...(args.userDataChange === "in-place" ? ["userData"] : []),
          ...(args.bakeSelector ? ["image"] : []),
        ],
      },
    );
    const serverId = this.server.id.apply(Number);
    this.volumeAttachments = this.volumes.map(
      (volume, i) =>
        new hcloud.VolumeAttachment(
          `${name}-${n.volumes[i]!.key}-attach`,
          { volumeId: volume.id.apply(Number), serverId, automount: false },
          { parent: this },
        ),
    );

    this.publicIpv4 = this.ipv4 ? this.ipv4.ipAddress.apply((a) => a as string | undefined) : pulumi.output(undefined);
    this.publicIpv6 = this.ipv6
      ? this.ipv6.ipAddress.apply((a) => ipv6HostAddress(a) as string | undefined)
      : pulumi.output(undefined);
    if (this.ipv4) {
      new hcloud.Rdns(
        `${name}-ipv4-rdns`,
        { primaryIpId: this.ipv4.id.apply(Number), ipAddress: this.ipv4.ipAddress, dnsPtr: n.fqdn },
        { parent: this },
      );
    }
    if (this.ipv6) {
      new hcloud.Rdns(
        `${name}-ipv6-rdns`,
        { primaryIpId: this.ipv6.id.apply(Number), ipAddress: this.publicIpv6.apply((a) => a!), dnsPtr: n.fqdn },
        { parent: this },
      );
    }
    this.registerOutputs({ serverId, publicIpv4: this.publicIpv4, publicIpv6: this.publicIpv6 });
  }
}

/** The id of the newest snapshot with these labels; the lookup fails naming the node and the fix when there is none. */
function bakedImage(selector: string, n: NodePlan, opts: pulumi.InvokeOutputOptions): pulumi.Output<string> {
  return hcloud
    .getImagesOutput(
      { withSelector: selector, mostRecent: true, withStatuses: ["available"], withArchitectures: [n.architecture] },
      opts,
    )
    .apply((r) => {
      const newest = [...r.images].sort((a, b) => b.created.localeCompare(a.created))[0];
      if (!newest)
        throw new Error(
          `${n.name} has baked: true, but no ${n.architecture} snapshot carries ${selector}: run npm run bake -- --stack <stack> --node <key>, or set baked: false`,
        );
      return String(newest.id);
    });
}
