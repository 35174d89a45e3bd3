import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import type { Plan } from "../plan/index.js";

export interface DnsArgs {
  dns: Plan["dns"];
  deleteProtection: boolean;
  pulumiProtect: boolean;
  labels: Record<string, string>;
  /**
   * Public addresses per node key (records point at the primary IPs, which outlive servers), and the
   * load balancer's under LOAD_BALANCER_RECORD.
   */
  addresses: Record<string, { ipv4: pulumi.Input<string | undefined>; ipv6: pulumi.Input<string | undefined> }>;
}

/** The DNS zone (created, or adopted by name) and one record set per planned name and type. */
export class Dns extends pulumi.ComponentResource {
  public readonly zone?: hcloud.Zone;
  public readonly zoneName: pulumi.Output<string>;
  public readonly records: pulumi.Output<{ fqdn: string; type: string; value: string }[]>;

  constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("xiopro:infra:Dns", name, {}, opts);
    const d = args.dns;
    if (d.mode === "create") {
      this.zone = new hcloud.Zone(
        `${name}-zone`,
        { name: d.zone, mode: "primary", ttl: d.ttl, deleteProtection: args.deleteProtection, labels: args.labels },
        { parent: this, protect: args.pulumiProtect },
      );
      this.zoneName = this.zone.name.apply((z) => z ?? d.zone);
    } else {
      // Adopt: the zone must already exist; looking it up fails the preview early if it does not.
      this.zoneName = hcloud.getZoneOutput({ name: d.zone }, { parent: this }).apply((z) => z.name ?? d.zone);
    }
    const recordOutputs: pulumi.Output<{ fqdn: string; type: string; value: string }>[] = [];
    for (const r of d.records) {
      const addr = args.addresses[r.node]!;
      const value = pulumi.output(r.type === "A" ? addr.ipv4 : addr.ipv6).apply((v) => {
        if (!v)
          throw new pulumi.ResourceError(
            `record ${r.fqdn} ${r.type}: node ${r.node} has no public ${r.type === "A" ? "IPv4" : "IPv6"}`,
            this,
          );
        return v;
      });
      new hcloud.ZoneRrset(
        `${name}-${r.name === "@" ? "apex" : r.name.replace(/\./g, "-")}-${r.type.toLowerCase()}`,
        { zone: this.zoneName, name: r.name, type: r.type, ttl: d.ttl, records: [{ value, comment: r.purpose }] },
        { parent: this },
      );
      recordOutputs.push(value.apply((v) => ({ fqdn: r.fqdn, type: r.type, value: v })));
    }
    this.records = pulumi.all(recordOutputs);
    this.registerOutputs({ zoneName: this.zoneName, records: this.records });
  }
}
