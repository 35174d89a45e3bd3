import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import type { LoadBalancerPlan } from "../plan/index.js";

export interface BalancerArgs {
  balancer: LoadBalancerPlan;
  pulumiProtect: boolean;
  networkId: pulumi.Input<number>;
  /** The subnet must exist before the balancer asks for an address in it. */
  subnet: pulumi.Resource;
  /** The servers it fronts, by node key (targets reach them on their private addresses). */
  servers: Record<string, hcloud.Server>;
}

/**
 * The load balancer, mapped 1:1 from the plan: its private address, a managed certificate for its
 * sites (Hetzner issues it through the stack's DNS zone), one HTTPS service and a target per server.
 */
export class Balancer extends pulumi.ComponentResource {
  public readonly loadBalancer: hcloud.LoadBalancer;
  public readonly ipv4: pulumi.Output<string>;
  public readonly ipv6: pulumi.Output<string>;

  constructor(name: string, args: BalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("xiopro:infra:Balancer", name, {}, opts);
    const b = args.balancer;
    this.loadBalancer = new hcloud.LoadBalancer(
      name,
      {
        name: b.name,
        loadBalancerType: b.type,
        location: b.location,
        algorithm: { type: b.algorithm },
        labels: b.labels,
        deleteProtection: b.deleteProtection,
      },
      { parent: this, protect: args.pulumiProtect },
    );
    const id = this.loadBalancer.id.apply(Number);
    const attachment = new hcloud.LoadBalancerNetwork(
      `${name}-net`,
      // Public interface on: the sites' DNS records point at its public addresses.
      { loadBalancerId: id, networkId: args.networkId, ip: b.privateIp, enablePublicInterface: true },
      { parent: this, dependsOn: [args.subnet] },
    );
    const certificate = new hcloud.ManagedCertificate(
      `${name}-certificate`,
      { name: b.certificate.name, domainNames: b.certificate.domains, labels: b.labels },
      { parent: this },
    );
    new hcloud.LoadBalancerService(
      `${name}-https`,
      {
        loadBalancerId: this.loadBalancer.id,
        protocol: "https",
        listenPort: b.service.listenPort,
        destinationPort: b.service.destinationPort,
        http: {
          certificates: [certificate.id.apply(Number)],
          redirectHttp: b.service.redirectHttp,
          stickySessions: false,
        },
        healthCheck: {
          protocol: "http",
          port: b.healthCheck.port,
          interval: b.healthCheck.intervalSeconds,
          timeout: b.healthCheck.timeoutSeconds,
          retries: b.healthCheck.retries,
          http: { domain: b.healthCheck.domain, path: b.healthCheck.path, statusCodes: b.healthCheck.statusCodes },
        },
      },
      { parent: this },
    );
    for (const key of b.targets) {
      const server = args.servers[key];
      if (!server) throw new Error(`load balancer target ${key} is not a server of the stack`);
      new hcloud.LoadBalancerTarget(
        `${name}-target-${key}`,
        { loadBalancerId: id, type: "server", serverId: server.id.apply(Number), usePrivateIp: true },
        // A private-IP target needs the balancer in the network first.
        { parent: this, dependsOn: [attachment, server] },
      );
    }
    this.ipv4 = this.loadBalancer.ipv4;
    this.ipv6 = this.loadBalancer.ipv6;
    this.registerOutputs({ ipv4: this.ipv4, ipv6: this.ipv6 });
  }
}
