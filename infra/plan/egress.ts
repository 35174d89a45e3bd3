// The outbound allowlist of a node whose role is in egress.allowlistRoles (docs/egress.md): what its
// services must reach, from the stack's settings, and what the operator adds. Pure.
// Two kinds of destination are found on the node itself when the list is refreshed, because only the
// node knows them: its resolvers (/etc/resolv.conf) and its apt sources' hosts. The backup repository
// is added when the node's files are rendered (repositoryDestination): a Storage Box the stack creates
// has its host only then.
import type { StackConfig } from "../config/keys.js";
import type { Role } from "../catalog/roles.js";

export interface EgressDestination {
  host: string;
  protocol: "tcp" | "udp";
  port: number;
  why: string;
}

export interface EgressPlan {
  destinations: EgressDestination[];
}

/** A URL's host and port (the scheme's default when it names none). */
function endpoint(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || (u.protocol === "http:" ? 80 : 443)) };
}

export interface EgressNode {
  role: Role;
  /** The names of the services it runs. */
  services: readonly string[];
  /** Fronted by the load balancer: Caddy orders no certificate there. */
  balanced: boolean;
}

/** The node's allowlist, or undefined when its role keeps outbound traffic open. */
export function egressPlan(config: StackConfig, node: EgressNode): EgressPlan | undefined {
  if (!config.egress.allowlistRoles.includes(node.role)) return undefined;
  const runs = (s: string) => node.services.includes(s);
  const out: EgressDestination[] = [];
  const add = (host: string, protocol: "tcp" | "udp", port: number, why: string) => {
    if (!out.some((d) => d.host === host && d.protocol === protocol && d.port === port))
      out.push({ host, protocol, port, why });
  };
  for (const server of config.timeSync.servers) add(server, "udp", 123, "time (systemd-timesyncd)");
  if (runs("ingress") && !node.balanced && config.ingress.tls === "acme" && config.ingress.sites.length > 0) {
    const acme = endpoint(config.ingress.acmeDirectory);
    add(acme.host, "tcp", acme.port, "ACME directory Caddy orders certificates from");
  }
  if (runs("monitoring")) {
    const mail = config.monitoring.email;
    if (mail) {
      const [host, port] = mail.smarthost.split(":");
      add(host!, "tcp", Number(port), "alert e-mail (SMTP relay)");
    }
    if (config.monitoring.webhook) {
      const hook = endpoint(config.monitoring.webhook.url);
      add(hook.host, "tcp", hook.port, "alert webhook");
    }
    for (const site of config.ingress.sites) add(site.hostname, "tcp", 443, "blackbox probe of the site");
  }
  for (const a of config.egress.allow)
    if (!a.roles || a.roles.includes(node.role)) for (const port of a.ports) add(a.host, a.protocol, port, a.why);
  return { destinations: out };
}

/** Where the backup jobs connect (pgBackRest, restic), once the repository's host is known. */
export function repositoryDestination(repo: StackConfig["backup"]["repository"]): EgressDestination | undefined {
  if (repo.kind === "s3" && repo.endpoint) {
    const s3 = endpoint(repo.endpoint);
    return { host: s3.host, protocol: "tcp", port: s3.port, why: "backup repository (pgBackRest, restic)" };
  }
  if (repo.kind === "sftp" && repo.host)
    return { host: repo.host, protocol: "tcp", port: repo.port, why: "backup repository (SFTP)" };
  return undefined;
}
