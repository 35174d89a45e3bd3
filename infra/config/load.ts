// The config boundary: raw Pulumi config (strings, objects as JSON) in, a validated StackConfig
// out, or every problem at once. Nothing is declared before this passes.
import { X509Certificate } from "node:crypto";
import type { z } from "zod";
import * as path from "node:path";
import { catalog as defaultCatalog, orderProblem, serverTypeNames, type Catalog } from "../catalog/index.js";
import { compareVersions, IMAGES, PGBACKREST_SFTP_SINCE } from "../catalog/images.js";
import { TOOLKIT_LABELS } from "./names.js";
import { requiredSecretKeys } from "./secrets.js";
import { BALANCER_CLIENT, CATALOG_SERVICE_NAMES, SERVICE_CATALOG, serviceHost } from "../catalog/services.js";
import {
  allocate,
  cidrInside,
  FIRST_ALLOCATED_OFFSET,
  formatCidr,
  isRfc1918,
  parseCidr,
  parseIpv4,
  unusableReason,
  formatIpv4,
} from "./ipv4.js";
import { coversAll, parseSourceCidr, type SourceRange } from "./cidr.js";
import {
  CONFIG_KEYS,
  NODE_KEYS,
  PROJECT,
  serviceOptions,
  STACK_CONFIG,
  type NodeConfig,
  type StackConfig,
  LETS_ENCRYPT_DIRECTORY,
} from "./keys.js";
import { stackView } from "./stack-view.js";
import { balanced, listedServices, stackNodes, targetName, type StackNode } from "./stack-nodes.js";
import { closest, docOf, own, parse, Problems, show, type Problem } from "../catalog/schema.js";
import { NODE_LAYOUT } from "../catalog/layout.js";

/** Config as Pulumi hands it to a program: `project:key` → string (objects JSON-encoded). */
export interface RawConfig {
  values: Record<string, string>;
  /** Keys whose values are Pulumi secrets. */
  secretKeys: ReadonlySet<string>;
}

/** Something the operator should know that does not stop the stack (printed by plan and pulumi up). */
export interface Notice {
  key: string;
  message: string;
}

export type LoadResult =
  | { ok: true; config: StackConfig; pendingSecrets: { key: string; why: string }[]; notices: Notice[] }
  | { ok: false; problems: Problem[] };

export { NODE_KEYS, type NodeKey } from "./keys.js";

const VOLUME_MIN_GB = 10;
const VOLUME_MAX_GB = 10240;

/**
 * `requireSecrets` (default true, as under `pulumi up`): a secret the stack needs but that is not set
 * is a problem. The offline plan passes false: it cannot decrypt anyway, so it lists them as pending.
 */
export function loadConfig(raw: RawConfig, opts: { catalog?: Catalog; requireSecrets?: boolean } = {}): LoadResult {
  const cat = opts.catalog ?? defaultCatalog;
  const problems = new Problems();
  // No prototype: a key named "__proto__" or "constructor" is a key like any other.
  const decoded = Object.create(null) as Record<string, unknown>;
  for (const [fullKey, text] of Object.entries(raw.values)) {
    const sep = fullKey.indexOf(":");
    const ns = fullKey.slice(0, sep);
    const key = fullKey.slice(sep + 1);
    if (ns !== PROJECT) {
      // Provider config such as hcloud:token is not ours to judge, but a misspelt project is ours.
      if (closest(ns, [PROJECT]))
        problems.add(fullKey, `is not read: its project prefix "${ns}" is not ${PROJECT}`, `write ${PROJECT}:${key}`);
      continue;
    }
    const spec = Object.hasOwn(CONFIG_KEYS, key) ? docOf((CONFIG_KEYS as Record<string, z.ZodType>)[key]!) : undefined;
    if (!spec) {
      decoded[key] = text; // reported as unknown by the schema, with a suggestion
      continue;
    }
    decoded[key] =
      spec.typeName === "string" || spec.typeName.startsWith('"') ? text : decodeJson(fullKey, text, problems);
  }
  checkMovedKeys(decoded, problems);
  const result = parse(STACK_CONFIG, decoded, PROJECT, ":");
  if (!result.ok) problems.list.push(...result.problems);
  const parsed: StackConfig | undefined = result.ok ? result.value : undefined;
  if (parsed) checkSemantics(parsed, cat, problems);
  if (parsed) checkUnusedOptions(parsed, raw, problems);
  const pendingSecrets = parsed ? checkSecrets(parsed, raw, problems, opts.requireSecrets ?? true) : [];
  if (!problems.empty || !parsed) return { ok: false, problems: problems.list };
  return { ok: true, config: parsed, pendingSecrets, notices: notices(parsed) };
}

/** Images the config may use but this repository's tests do not boot (docs/architecture.md D1, ADR 0003). */
function notices(c: StackConfig): Notice[] {
  // One notice per config entry: a pool's members share it.
  const entries = [...new Map(stackNodes(c).map((n) => [n.path, n])).values()];
  const images = entries
    .filter((n) => own(IMAGES, n.config.image)?.bootedBy === null)
    .map((n) => ({
      key: `${PROJECT}:${n.path}.image`,
      message: `${show(n.config.image)} (${own(IMAGES, n.config.image)!.os}) is accepted, but this repository's tests do not boot it; debian-13 is booted by the VM proof, debian-12 by the container variant`,
    }));
  const v6only = entries
    .filter((n) => !n.config.publicIpv4 && n.config.publicIpv6)
    .map((n) => ({
      key: `${PROJECT}:${n.path}.publicIpv4`,
      message: `is false: ${n.path} reaches the internet over IPv6 only, so every endpoint it calls needs an AAAA record (check with dig AAAA): ${ipv6Endpoints(c).join(", ")} (docs/ipv6-only.md)`,
    }));
  // Seed 004: backups that survive losing the account. Allowed without, but said on every run.
  const oneAccount =
    c.environment === "prd" && !c.backup.offsite && entries.some((n) => listedServices(n.config).includes("backup"))
      ? [
          {
            key: `${PROJECT}:backup.offsite`,
            message:
              "is not set: every backup of prd is in the Hetzner account, so losing the account loses them; add a second repository outside Hetzner (docs/recovery.md)",
          },
        ]
      : [];
  return [...images, ...v6only, ...oneAccount];
}

/** The hosts a node calls out to that the stack config names (the Debian mirror, Let's Encrypt and Tailscale are dual-stack). */
function ipv6Endpoints(c: StackConfig): string[] {
  const host = (url: string | undefined) => {
    try {
      return url ? new URL(url).hostname : undefined;
    } catch {
      return undefined;
    }
  };
  const repo = (r: StackConfig["backup"]["offsite"]) =>
    r?.kind === "s3" ? host(r.endpoint) : r?.kind === "sftp" ? r.host : undefined;
  return [
    ...new Set(
      [
        repo(c.backup.repository),
        repo(c.backup.offsite),
        c.ingress.acmeDirectory === LETS_ENCRYPT_DIRECTORY ? undefined : host(c.ingress.acmeDirectory),
        host(c.monitoring.webhook?.url),
        c.monitoring.email?.smarthost?.split(":")[0],
        ...c.timeSync.servers,
      ].filter((h): h is string => Boolean(h)),
    ),
  ];
}

/** Secrets must be set as secrets; the ones the stack needs must be set at all. */
/** A record's own entry: "constructor" or "toString" are not locations, types or images. */

const HCLOUD_TOKEN = "hcloud:token";
/** Names of settings that hold credentials. */
const SECRET_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIAL|AUTH)$|^(API_?KEY|TOKEN|SECRET|PASSWORD)/;

function checkSecrets(c: StackConfig, raw: RawConfig, p: Problems, required: boolean): { key: string; why: string }[] {
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    const full = `${PROJECT}:${key}`;
    if (docOf(spec).secret && full in raw.values && !raw.secretKeys.has(full)) {
      p.add(
        full,
        "is set as plain text, so its value sits unencrypted in the stack file",
        `run: pulumi config rm ${key} && pulumi config set --secret ${key}${key === "providerKeys" || key === "webSecrets" ? " --path (per entry: <key>.<NAME>)" : ""} <value>`,
      );
    }
  }
  // The provider's token is not ours to read, but a plain one in the stack file is ours to refuse.
  if (HCLOUD_TOKEN in raw.values && !raw.secretKeys.has(HCLOUD_TOKEN)) {
    p.add(
      HCLOUD_TOKEN,
      "is set as plain text, so the Hetzner API token sits unencrypted in the stack file",
      `run: pulumi config rm ${HCLOUD_TOKEN} && pulumi config set --secret ${HCLOUD_TOKEN} <token> (or export HCLOUD_TOKEN)`,
    );
  }
  const services = stackNodes(c).map((n) => listedServices(n.config));
  const missing = requiredSecretKeys(c, services).filter(({ key }) => !(`${PROJECT}:${key}` in raw.values));
  if (required) {
    for (const m of missing)
      p.add(
        `${PROJECT}:${m.key}`,
        `is not set, but it is needed: ${m.why}`,
        `run: pulumi config set --secret ${m.key} <value>`,
      );
  }
  return missing;
}

function decodeJson(key: string, text: string, problems: Problems): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Pulumi passes plain scalars as strings; a bare word for a number/bool field stays a string
    // and the field's own parser names the problem.
    if (!/^[[{]/.test(text.trim())) return text;
    problems.add(
      key,
      `is not valid structured config: ${show(text)}`,
      "write it as YAML in the stack file, or use `pulumi config set --path`",
    );
    return undefined;
  }
}

/** Each service's own rules for its options, on the node that runs it (its descriptor's `problems`). */
function checkServiceOptions(node: StackNode, c: StackConfig, cat: Catalog, p: Problems): void {
  const n = node.config;
  const nk = node.key;
  const listed = new Set(n.services.filter((s) => typeof s === "string"));
  const type = n.serverType === undefined ? undefined : own(cat.serverTypes, n.serverType);
  const host = serviceHost(node.name, n.image, type?.architecture);
  const stack = stackView(c);
  for (const s of Object.values(SERVICE_CATALOG)) {
    if (!s.options || !s.problems || !(s.baseline || listed.has(s.name))) continue;
    for (const q of s.problems(serviceOptions(c, s), host, stack))
      p.add(`${PROJECT}:${s.name}${q.field ? `.${q.field}` : ""}`, `${q.message} (${nk} runs ${s.name})`, q.fix);
  }
}

/** A service's options set in the stack file while no enabled node runs it: a setting with no effect. */
function checkUnusedOptions(c: StackConfig, raw: RawConfig, p: Problems): void {
  const running = new Set(stackView(c).flatMap((n) => n.services));
  for (const s of Object.values(SERVICE_CATALOG))
    if (s.options && `${PROJECT}:${s.name}` in raw.values && !running.has(s.name))
      p.add(
        `${PROJECT}:${s.name}`,
        `is set, but no enabled node runs the ${s.name} service, so it has no effect`,
        `add "${s.name}" to a node's services (nodeA, nodeC or nodeD), or remove the key`,
      );
}

/** Keys that moved, with where to: the old one is refused by name, and its value is not read. */
const MOVED_KEYS: { from: [string, string]; to: string; since: string }[] = [
  { from: ["backup", "walReceiver"], to: "wal-receiver", since: "0.3.0" },
];

function checkMovedKeys(decoded: Record<string, unknown>, p: Problems): void {
  for (const m of MOVED_KEYS) {
    const parent = decoded[m.from[0]];
    if (!parent || typeof parent !== "object" || !Object.hasOwn(parent, m.from[1])) continue;
    delete (parent as Record<string, unknown>)[m.from[1]];
    p.add(
      `${PROJECT}:${m.from.join(".")}`,
      `moved to ${PROJECT}:${m.to} in ${m.since}, so it is not read`,
      `move its value to ${PROJECT}:${m.to} (docs/UPGRADE-${m.since.split(".").slice(0, 2).join(".")}.md)`,
    );
  }
}

/** Cross-field rules that need the catalog, the IP plan or the service catalog. */
function checkSemantics(c: StackConfig, cat: Catalog, p: Problems): void {
  const k = (rest: string) => `${PROJECT}:${rest}`;
  const locations = Object.keys(cat.locations);
  const locOk = (where: string, loc: string): boolean => {
    if (own(cat.locations, loc)) return true;
    const guess = closest(loc, locations);
    p.add(
      where,
      `${show(loc)} is not a Hetzner location`,
      `use one of ${locations.join(", ")}${guess ? ` (did you mean "${guess}"?)` : ""}`,
    );
    return false;
  };
  const stackLocOk = locOk(k("location"), c.location);
  const zone = stackLocOk ? own(cat.locations, c.location)!.networkZone : undefined;
  if (c.networkZone !== undefined && zone !== undefined && c.networkZone !== zone) {
    p.add(
      k("networkZone"),
      `${show(c.networkZone)} does not match location ${c.location} (zone ${zone})`,
      `set it to ${zone} or remove it`,
    );
  }

  // Network and subnet
  const net = parseCidr(c.network.cidr);
  const sub = parseCidr(c.network.subnet);
  if (!net)
    p.add(
      k("network.cidr"),
      `${show(c.network.cidr)} is not a network address with prefix`,
      "write the network address, e.g. 10.0.0.0/16 (host bits zero)",
    );
  else if (!isRfc1918(net))
    p.add(
      k("network.cidr"),
      `${show(c.network.cidr)} is not a private (RFC 1918) range`,
      "use a range inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
    );
  if (!sub)
    p.add(
      k("network.subnet"),
      `${show(c.network.subnet)} is not a network address with prefix`,
      "write the subnet address, e.g. 10.0.1.0/24 (host bits zero)",
    );
  else if (net && !cidrInside(sub, net))
    p.add(
      k("network.subnet"),
      `${show(c.network.subnet)} is not inside the network ${c.network.cidr}`,
      `choose a subnet inside ${c.network.cidr}, e.g. ${formatCidr({ network: net.network + 256 * (net.prefix <= 23 ? 1 : 0), prefix: Math.max(24, net.prefix) })}`,
    );
  else if (sub && sub.prefix > 29)
    p.add(k("network.subnet"), `${show(c.network.subnet)} is too small for nodes`, "use a /29 or larger (e.g. /24)");
  else if (sub) {
    // The plan's own allocator: a node it cannot place would otherwise get no address at all.
    const all = stackNodes(c);
    const ips = allocate(
      sub,
      all.map((n) => ({ id: n.key, explicit: n.config.privateIp ? parseIpv4(n.config.privateIp) : undefined })),
    );
    const unplaced = all.filter((n) => ips.get(n.key) === undefined).map((n) => n.key);
    // Room for every automatic address from the first allocated offset, plus the broadcast address.
    const automatic = all.filter((n) => !n.config.privateIp).length;
    const fitsPrefix = 32 - Math.ceil(Math.log2(FIRST_ALLOCATED_OFFSET + automatic + 1));
    if (unplaced.length > 0) {
      p.add(
        k("network.subnet"),
        `${show(c.network.subnet)} has no free address for ${unplaced.join(", ")} (automatic addresses start at ${formatIpv4(sub.network + FIRST_ALLOCATED_OFFSET)}, the last usable is ${formatIpv4(sub.network + 2 ** (32 - sub.prefix) - 2)})`,
        `use a /${fitsPrefix} or larger, or give ${[...new Set(all.filter((n) => unplaced.includes(n.key)).map((n) => (n.pool ? `${n.path}.firstPrivateIp` : `${n.path}.privateIp`)))].join(" and ")} inside the subnet`,
      );
    }
  }

  // Nodes
  if (!c.nodeA.enabled)
    p.add(
      k("nodeA.enabled"),
      "is false, but Node A is the control node every stack needs",
      "remove the key or set it to true",
    );
  const nodes = stackNodes(c);
  const ips = new Map<string, string>();
  const serviceHomes = new Map<string, string[]>();
  checkPools(c, nodes, p);
  for (const node of nodes) {
    const n = node.config;
    const nk = node.key;
    // A pool's settings are checked once, on its first member; addresses on every member.
    if (!node.pool || node.pool.index === 1) {
      checkNode(node, c, cat, p, locOk);
      checkServiceOptions(node, c, cat, p);
    }
    // A pool member's address is firstPrivateIp plus its index: the message names the pool's key.
    const ipKey = node.pool ? `${node.path}.firstPrivateIp` : `${node.path}.privateIp`;
    if (n.privateIp !== undefined && sub) {
      const ip = parseIpv4(n.privateIp);
      if (ip === undefined)
        p.add(k(ipKey), `${show(n.privateIp)} is not an IPv4 address`, "write four numbers 0-255 separated by dots");
      else {
        const why = unusableReason(sub, ip);
        if (why)
          p.add(
            k(ipKey),
            `${show(n.privateIp)}${node.pool ? ` (${nk})` : ""} ${why}`,
            `choose a free address inside ${c.network.subnet} from .2 up, e.g. ${formatIpv4(sub.network + 10)}`,
          );
        const dup = ips.get(n.privateIp);
        if (dup)
          p.add(
            k(ipKey),
            `${show(n.privateIp)}${node.pool ? ` (${nk})` : ""} is already used by ${dup}`,
            node.pool
              ? `move firstPrivateIp so that the pool's ${node.pool.count} addresses overlap no other node's`
              : "give every node its own address, or leave privateIp unset to allocate one",
          );
        ips.set(n.privateIp, nk);
      }
    }
    for (const s of n.services) {
      const name = typeof s === "string" ? s : s.name;
      serviceHomes.set(name, [...(serviceHomes.get(name) ?? []), nk]);
    }
  }
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const pathOf = (key: string) => byKey.get(key)!.path;
  for (const [name, homes] of serviceHomes) {
    if (SERVICE_CATALOG[name]?.singleton && homes.length > 1) {
      p.add(
        k(`${pathOf(homes[1]!)}.services`),
        `${show(name)} runs on ${homes.join(" and ")}, but it may run on one node only`,
        `remove ${name} from all but one node`,
      );
    }
  }

  // What each service's descriptor requires of the others: on its node, on some node, or apart.
  for (const [name, homes] of serviceHomes) {
    const spec = SERVICE_CATALOG[name];
    // A pool's members share their services: judged once per config entry.
    const entries = [...new Set(homes.map(pathOf))];
    for (const home of entries) {
      const onHome = listedServices(nodes.find((n) => n.path === home)!.config);
      for (const r of spec?.requires ?? []) {
        if (r.on === "same-node" && !onHome.includes(r.service))
          p.add(
            k(`${home}.services`),
            `lists ${show(name)} but not ${show(r.service)}`,
            `add ${show(r.service)} to ${home}.services, or move ${name} to the node that runs ${r.service}`,
          );
        if (r.on === "some-node" && !serviceHomes.has(r.service) && home === entries[0])
          p.add(
            k(`${home}.services`),
            `lists ${show(name)}, but no enabled node runs ${r.service}`,
            `remove ${name}, or add ${r.service} to nodeA.services`,
          );
      }
      for (const a of spec?.apartFrom ?? [])
        if (onHome.includes(a.service))
          p.add(
            k(`${home}.services`),
            `lists ${show(name)} beside ${show(a.service)}: ${a.why}`,
            `move ${name} to another node (enable nodeC or nodeD for it)`,
          );
    }
  }
  checkClients(c, serviceHomes, p);
  if ((c.monitoring.email || c.monitoring.webhook) && !serviceHomes.has("monitoring")) {
    p.add(
      k("monitoring"),
      "configures alert delivery, but no enabled node runs the monitoring service",
      `add "monitoring" to nodeA.services (or a dedicated node's)`,
    );
  }

  // WAL receiver settings (where it may run: its descriptor, above).
  // The same key twice would be two Hetzner SSH keys with one fingerprint (the API refuses the second).
  const seenKeys = new Map<string, number>();
  c.sshPublicKeys.forEach((key, i) => {
    const material = key.split(" ").slice(0, 2).join(" ");
    const first = seenKeys.get(material);
    if (first !== undefined)
      p.add(
        k(`sshPublicKeys[${i}]`),
        `is the same key as sshPublicKeys[${first}] (comments aside)`,
        "list each key once",
      );
    else seenKeys.set(material, i);
  });

  // Ingress and sites
  if (c.ingress.tls === "acme" && c.ingress.sites.length > 0 && !c.ingress.acmeEmail) {
    p.add(
      k("ingress.acmeEmail"),
      "is not set, but tls is acme",
      "set an e-mail address for ACME account notices, or use tls: internal for closed networks",
    );
  }
  if (c.ingress.acmeCaRoot !== undefined) {
    if (c.ingress.tls !== "acme")
      p.add(k("ingress.acmeCaRoot"), "is set, but tls is internal", "remove acmeCaRoot, or use tls: acme");
    const why = acmeRootProblem(c.ingress.acmeCaRoot);
    if (why)
      p.add(
        k("ingress.acmeCaRoot"),
        why,
        "paste the CA's root certificate in PEM form (-----BEGIN CERTIFICATE----- …), as the ACME CA publishes it",
      );
  }
  const seenHosts = new Set<string>();
  c.ingress.sites.forEach((site, i) => {
    const where = k(`ingress.sites[${i}]`);
    if (site.hostname !== c.domain && !site.hostname.endsWith(`.${c.domain}`)) {
      p.add(
        `${where}.hostname`,
        `${show(site.hostname)} is outside the domain ${c.domain}`,
        `use a name ending in .${c.domain}, or change domain`,
      );
    }
    if (seenHosts.has(site.hostname))
      p.add(`${where}.hostname`, `${show(site.hostname)} is declared twice`, "declare each hostname once");
    const host = nodes.find((n) => site.hostname === `${n.name}.${c.domain}`)?.key;
    if (host)
      p.add(
        `${where}.hostname`,
        `${show(site.hostname)} is the host name of ${host} (its A/AAAA records and reverse DNS)`,
        `use another name, e.g. app.${c.domain}`,
      );
    seenHosts.add(site.hostname);
    const homes = serviceHomes.get(site.service);
    if (!homes) {
      p.add(
        `${where}.service`,
        `${show(site.service)} does not run on any enabled node`,
        `add it to a node's services, or use one of ${[...serviceHomes.keys()].sort().join(", ")}`,
      );
      return;
    }
    const home = homes[0]!;
    const homeConfig = byKey.get(home)!.config;
    // Caddy on the site's node, and a localhost port of the service that it may proxy to.
    const checkUpstream = (): void => {
      for (const h of homes.filter((x, i) => homes.findIndex((y) => pathOf(y) === pathOf(x)) === i))
        if (!runsService(byKey.get(h)!.config, "ingress"))
          p.add(
            `${where}.service`,
            `${show(site.service)} runs on ${h}, which does not run ingress`,
            `add "ingress" to ${pathOf(h)}.services`,
          );
      const upstream = localUpstream(homeConfig, site.service);
      const internal = SERVICE_CATALOG[site.service]?.interfaces.find((i) => i.class === "D" && !i.siteUpstream);
      if (upstream === undefined && internal) {
        const publishable = Object.values(SERVICE_CATALOG)
          .filter((svc) => svc.interfaces.some((i) => i.siteUpstream))
          .map((svc) => svc.name);
        p.add(
          `${where}.service`,
          `${show(site.service)} must never be public: its localhost port ${internal.port} (${internal.name}) is for the node itself`,
          `point the site at ${publishable.join(" or ")}, or at a service of your own with a class D interface`,
        );
      } else if (upstream === undefined)
        p.add(
          `${where}.service`,
          `${show(site.service)} has no localhost (class D) tcp interface for Caddy to proxy to`,
          "give the service a class D interface, or point the site at another service",
        );
    };
    // Behind the balancer: served on every node that runs the service, reached through its addresses.
    const behind = homes.filter((h) => balanced(c, byKey.get(h)!));
    if (behind.length > 0 && behind.length < homes.length)
      p.add(
        `${where}.service`,
        `${show(site.service)} runs on ${homes.join(", ")}, but the load balancer fronts only ${behind.join(", ")}: the others would serve the site with nothing pointing at them`,
        `add ${[...new Set(homes.filter((h) => !behind.includes(h)).map((h) => targetName(byKey.get(h)!)))].join(" and ")} to ${PROJECT}:loadBalancer.targets, or remove ${site.service} from them`,
      );
    if (behind.length > 0) return checkUpstream();
    if (homes.length > 1)
      p.add(
        `${where}.service`,
        `${show(site.service)} runs on ${homes.join(", ")}: each would get the site's A/AAAA records, and no balancer spreads or fails over between them`,
        `run the site's service on one node, or put ${PROJECT}:loadBalancer in front of them (targets: [${[...new Set(homes.map((h) => targetName(byKey.get(h)!)))].join(", ")}])`,
      );
    checkUpstream();
    if (!homeConfig.publicIpv4 && !homeConfig.publicIpv6)
      p.add(
        `${where}.service`,
        `${show(site.service)} runs on ${home}, which has no public IP`,
        `enable publicIpv4 or publicIpv6 on ${pathOf(home)}`,
      );
    else if (!homeConfig.publicIpv4)
      p.add(
        `${where}.service`,
        `${show(site.service)} runs on ${home}, which has no public IPv4: the site gets no A record, and clients without IPv6 cannot reach it`,
        `set ${pathOf(home)}.publicIpv4: true (docs/ipv6-only.md)`,
      );
  });

  checkBalancer(c, cat, nodes, p);
  checkEgress(c, nodes, p);

  // A service whose endpoints have no IPv6 address cannot run on an IPv6-only node.
  for (const node of new Map(nodes.map((n) => [n.path, n])).values())
    if (!node.config.publicIpv4)
      for (const name of listedServices(node.config)) {
        const why = SERVICE_CATALOG[name]?.needsIpv4;
        if (why)
          p.add(
            k(`${node.path}.publicIpv4`),
            `is false, but ${node.path} runs ${name}: ${why}`,
            `set ${node.path}.publicIpv4: true, or run ${name} on a node with IPv4 (docs/ipv6-only.md)`,
          );
      }

  // Admin path
  const allow = c.adminPath.sshAllowlist;
  if (c.adminPath.mode === "allowlist" && allow.length > 0 && !allow.some((r) => r.includes(":")))
    for (const path of new Set(nodes.filter((n) => !n.config.publicIpv4).map((n) => n.path)))
      p.add(
        k(`${path}.publicIpv4`),
        "is false, but the admin path is an SSH allowlist of IPv4 ranges only: no operator could reach the node",
        `set ${path}.publicIpv4: true, or add your IPv6 range to adminPath.sshAllowlist (docs/ipv6-only.md)`,
      );
  if (c.adminPath.mode === "allowlist" && allow.length === 0) {
    p.add(
      k("adminPath.sshAllowlist"),
      "is empty, but mode is allowlist",
      "list the operator CIDRs (e.g. 198.51.100.7/32), or use mode: tailscale",
    );
  }
  const ranges: { text: string; range: SourceRange }[] = [];
  allow.forEach((cidr, i) => {
    const r = parseSourceCidr(cidr);
    if ("problem" in r) p.add(k(`adminPath.sshAllowlist[${i}]`), `${show(cidr)} ${r.problem}`, r.fix);
    else if (r.prefix === 0)
      p.add(
        k(`adminPath.sshAllowlist[${i}]`),
        `${show(cidr)} opens SSH to the whole internet`,
        "list only the operator's own addresses",
      );
    else ranges.push({ text: cidr, range: r });
  });
  for (const family of [4, 6] as const) {
    const same = ranges.filter((r) => r.range.family === family);
    if (
      coversAll(
        same.map((r) => r.range),
        family,
      )
    ) {
      p.add(
        k("adminPath.sshAllowlist"),
        `${same.map((r) => r.text).join(", ")} together open SSH to every IPv${family} address`,
        "list only the operator's own addresses",
      );
    }
  }

  // Production policy: an error unless the risk is accepted by name (acceptedRisks).
  const accepted = (risk: (typeof c.acceptedRisks)[number]) => c.acceptedRisks.includes(risk);
  const runs = (svc: string) => nodes.filter((n) => runsService(n.config, svc)).map((n) => n.key);
  if (
    c.environment === "prd" &&
    runs("postgresql").length > 0 &&
    runs("backup").length === 0 &&
    !accepted("prd-without-backups")
  ) {
    p.add(
      k(`${runs("postgresql")[0]}.services`),
      "runs postgresql in prd, but no node runs the backup service",
      `add "backup" to its services, or accept the risk by name: acceptedRisks: [prd-without-backups]`,
    );
  }
  if (c.environment === "prd" && !accepted("prd-without-protection")) {
    for (const f of ["deleteProtection", "pulumiProtect"] as const) {
      if (!c.protection[f])
        p.add(
          k(`protection.${f}`),
          "is off in prd: a stray pulumi destroy or console click deletes the database volume",
          `set it to true, or accept the risk by name: acceptedRisks: [prd-without-protection]`,
        );
    }
  }
  if (c.agentd.workers === 0 && runs("agentd-worker").length > 0) {
    p.add(
      k("agentd.workers"),
      `is 0, but ${runs("agentd-worker").join(", ")} runs agentd-worker`,
      "set workers to 1 or more, or remove agentd-worker from the services",
    );
  }

  // Free text that lands in units, env files and config files: checked against where it goes.
  for (const f of ["webCommand", "workerCommand", "sweeperCommand"] as const) {
    const why = unitCommandProblem(c.agentd[f]);
    if (why)
      p.add(
        k(`agentd.${f}`),
        `${show(c.agentd[f])} ${why}`,
        "write the program's path inside the release and its arguments, separated by single spaces, from letters, digits and . _ / = : , @ + -",
      );
  }
  if ((c.agentd.user as string) === "root")
    p.add(
      k("agentd.user"),
      `"root" would run the agent runtime with every privilege`,
      "use a user of its own, e.g. agentd (the default)",
    );
  for (const [name, value] of Object.entries(c.agentd.environment)) {
    const bad = controlCharacter(value);
    if (bad)
      p.add(k(`agentd.environment.${name}`), `${show(value)} contains ${bad}`, "use a single line of printable text");
    // Named like a secret: the plain map lands in git and in the node's env file unencrypted.
    if (SECRET_NAME.test(name))
      p.add(
        k(`agentd.environment.${name}`),
        "is named like a secret, but agentd.environment is plain text in the stack file and on the node",
        `move it to providerKeys (workers) or webSecrets (web): pulumi config set --secret --path 'providerKeys.${name}' <value>`,
      );
  }
  // Credentials in a URL end up in plain config, logs and the rendered files.
  const urls: [string, string | undefined][] = [
    ["monitoring.webhook.url", c.monitoring.webhook?.url],
    ["ingress.acmeDirectory", c.ingress.acmeDirectory],
    ["backup.repository.endpoint", c.backup.repository.endpoint],
    ["backup.offsite.endpoint", c.backup.offsite?.endpoint],
  ];
  for (const [key, text] of urls) {
    if (text === undefined || !URL.canParse(text)) continue;
    const u = new URL(text);
    const secretParam = [...u.searchParams.keys()].find((q) => SECRET_NAME.test(q.toUpperCase()));
    if (u.username || u.password)
      p.add(
        k(key),
        `${show(`${u.protocol}//…@${u.host}${u.pathname}`)} carries a user name or password`,
        key === "monitoring.webhook.url"
          ? "remove it from the URL; the webhook's token is the secret alertWebhookToken"
          : "remove it from the URL",
      );
    else if (secretParam)
      p.add(
        k(key),
        `carries the query parameter ${JSON.stringify(secretParam)}, which looks like a credential`,
        key === "monitoring.webhook.url"
          ? "remove it from the URL; the webhook's token is the secret alertWebhookToken"
          : "remove it from the URL",
      );
  }

  checkRepository("backup.repository", c.backup.repository, c, p);
  const r = c.backup.repository;
  if (r.createStorageBox) {
    const box = k("backup.repository.createStorageBox");
    if (r.kind !== "sftp")
      p.add(box, `is set, but kind is ${r.kind}`, "set backup.repository.kind: sftp, or remove createStorageBox");
    for (const f of ["host", "user"] as const)
      if (r[f])
        p.add(
          k(`backup.repository.${f}`),
          "is set, but the stack creates the Storage Box (createStorageBox), whose sub-account gives it",
          `remove backup.repository.${f}, or remove createStorageBox to use an existing box`,
        );
    if (!own(cat.storageBox, r.createStorageBox.type))
      p.add(
        `${box}.type`,
        `${show(r.createStorageBox.type)} is not a Storage Box type in the catalog (${cat.catalogDate})`,
        `use one of ${Object.keys(cat.storageBox).join(", ")}`,
      );
    if (r.createStorageBox.location !== undefined) locOk(`${box}.location`, r.createStorageBox.location);
    if (/^\/*$/.test(r.path))
      p.add(
        k("backup.repository.path"),
        `"/" would make the sub-account's home the whole Storage Box`,
        "use a directory such as /xiopro",
      );
  }
  const o = c.backup.offsite;
  if (o) {
    checkRepository("backup.offsite", o, c, p);
    // The point of the second repository: it survives losing the Hetzner account.
    const host = o.kind === "s3" ? hostOf(o.endpoint) : o.kind === "sftp" ? o.host : undefined;
    if (host !== undefined && HETZNER_STORAGE.test(host))
      p.add(
        k(o.kind === "s3" ? "backup.offsite.endpoint" : "backup.offsite.host"),
        `${show(host)} is Hetzner's, so losing the Hetzner account would lose both repositories`,
        "use a provider outside Hetzner (any S3-compatible store or SFTP server)",
      );
    else if (
      o.kind === r.kind &&
      (o.kind === "s3"
        ? hostOf(o.endpoint) === hostOf(r.endpoint) && o.bucket === r.bucket
        : o.kind === "sftp"
          ? o.host === r.host && o.user === r.user
          : o.path === r.path)
    )
      p.add(
        k("backup.offsite"),
        `is the same ${o.kind === "s3" ? "bucket" : o.kind === "sftp" ? "account" : "path"} as backup.repository, so one loss takes both`,
        "point it at a second provider",
      );
  }
}

type Repository = NonNullable<StackConfig["backup"]["offsite"]> | StackConfig["backup"]["repository"];

/** Hetzner's own storage hosts: Object Storage and Storage Boxes. */
const HETZNER_STORAGE = /(^|\.)(your-objectstorage\.com|your-storagebox\.de)$/;

const hostOf = (url: string | undefined): string | undefined =>
  url !== undefined && URL.canParse(url) ? new URL(url).hostname : undefined;

/** What both repositories need: the fields of their kind, a clean absolute path, no posix in prd. */
function checkRepository(key: "backup.repository" | "backup.offsite", r: Repository, c: StackConfig, p: Problems) {
  const k = (rest: string) => `${PROJECT}:${rest}`;
  const need = (field: "endpoint" | "region" | "bucket" | "host" | "user") => {
    if (!r[field]) p.add(k(`${key}.${field}`), `is not set, but kind is ${r.kind}`, `set ${key}.${field}`);
  };
  if (r.kind === "s3") ["endpoint", "region", "bucket"].forEach((f) => need(f as "endpoint"));
  if (r.kind === "sftp" && !("createStorageBox" in r && r.createStorageBox))
    ["host", "user"].forEach((f) => need(f as "host"));
  if (r.kind === "posix" && c.environment === "prd")
    p.add(k(`${key}.kind`), `"posix" keeps backups on the node itself`, "use s3 or sftp in prd");
  if (!r.path.startsWith("/")) p.add(k(`${key}.path`), `${show(r.path)} is not absolute`, "start the path with /");
  if (r.path.split("/").some((seg) => seg === "." || seg === ".."))
    p.add(
      k(`${key}.path`),
      `${show(r.path)} has . or .. in it`,
      `write the path it means: ${path.posix.normalize(r.path)}`,
    );
}

/**
 * The load balancer: an orderable type here, a free fixed private address, and targets that exist and
 * each serve a site. Its certificate is Hetzner's (managed, through the zone), whatever ingress.tls says.
 */
function checkBalancer(c: StackConfig, cat: Catalog, nodes: readonly StackNode[], p: Problems): void {
  const lb = c.loadBalancer;
  if (!lb) return;
  const k = (rest: string) => `${PROJECT}:loadBalancer.${rest}`;
  const types = Object.keys(cat.loadBalancerTypes).sort();
  const type = own(cat.loadBalancerTypes, lb.type);
  if (!type) {
    const guess = closest(lb.type, types);
    p.add(
      k("type"),
      `${show(lb.type)} is not a Hetzner load balancer type`,
      `use one of ${types.join(", ")}${guess ? ` (did you mean "${guess}"?)` : ""}`,
    );
  } else if (own(cat.locations, c.location) && type.monthly[c.location] === undefined)
    p.add(
      k("type"),
      `${show(lb.type)} is not offered in ${c.location}`,
      `use one of ${types.filter((t) => cat.loadBalancerTypes[t]!.monthly[c.location] !== undefined).join(", ")}`,
    );
  const sub = parseCidr(c.network.subnet);
  const ip = parseIpv4(lb.privateIp);
  if (ip === undefined)
    p.add(k("privateIp"), `${show(lb.privateIp)} is not an IPv4 address`, "write four numbers 0-255 separated by dots");
  else if (sub) {
    const why = unusableReason(sub, ip);
    if (why)
      p.add(
        k("privateIp"),
        `${show(lb.privateIp)} ${why}`,
        `choose a free address inside ${c.network.subnet}, e.g. ${formatIpv4(sub.network + 5)}`,
      );
    else {
      // The nodes' addresses as the plan allocates them, automatic ones included.
      const placed = allocate(
        sub,
        nodes.map((n) => ({ id: n.key, explicit: n.config.privateIp ? parseIpv4(n.config.privateIp) : undefined })),
      );
      const holder = nodes.find((n) => placed.get(n.key) === ip);
      if (holder)
        p.add(
          k("privateIp"),
          `${show(lb.privateIp)} is ${holder.key}'s address`,
          "give the balancer an address no node has, below the automatic ones (.10 upwards), e.g. .5",
        );
    }
  }
  const names = [...new Set(nodes.map(targetName))];
  const fronted = new Set(c.ingress.sites.map((s) => s.service));
  lb.targets.forEach((t, i) => {
    const where = k(`targets[${i}]`);
    if (lb.targets.indexOf(t) !== i) return p.add(where, `${show(t)} is listed twice`, "list each target once");
    const members = nodes.filter((n) => targetName(n) === t);
    if (members.length === 0) {
      const guess = closest(t, names);
      return (NODE_KEYS as readonly string[]).includes(t)
        ? p.add(where, `${show(t)} is not enabled`, `set ${t}.enabled: true, or use one of ${names.join(", ")}`)
        : p.add(
            where,
            `${show(t)} is neither a pool nor an enabled node`,
            `use one of ${names.join(", ")}${guess ? ` (did you mean "${guess}"?)` : ""}`,
          );
    }
    const serves = listedServices(members[0]!.config).filter((s) => fronted.has(s));
    if (serves.length === 0)
      p.add(
        where,
        `${show(t)} serves no site (ingress.sites), so the balancer would have nothing to send it`,
        `remove ${t} from the targets, or declare a site whose service runs on it`,
      );
  });
  if (lb.healthCheck.timeoutSeconds >= lb.healthCheck.intervalSeconds)
    p.add(
      k("healthCheck.timeoutSeconds"),
      `${lb.healthCheck.timeoutSeconds} is not shorter than intervalSeconds (${lb.healthCheck.intervalSeconds})`,
      `lower it below ${lb.healthCheck.intervalSeconds}, or raise intervalSeconds`,
    );
}

/** The outbound allowlist: roles the stack has, entries that change something, services it can serve. */
function checkEgress(c: StackConfig, nodes: readonly StackNode[], p: Problems): void {
  const k = (rest: string) => `${PROJECT}:egress.${rest}`;
  const roles = c.egress.allowlistRoles;
  const present = [...new Set(nodes.map((n) => n.role))];
  roles.forEach((role, i) => {
    if (!present.includes(role))
      p.add(
        k(`allowlistRoles[${i}]`),
        `${show(role)} is the role of no node in this stack`,
        `use one of ${present.join(", ")}, or remove it`,
      );
  });
  for (const node of new Map(nodes.filter((n) => roles.includes(n.role)).map((n) => [n.path, n])).values())
    for (const name of listedServices(node.config)) {
      const why = SERVICE_CATALOG[name]?.egressUnlisted;
      if (why)
        p.add(
          k("allowlistRoles"),
          `includes ${show(node.role)}, whose ${node.path} runs ${name}: ${why}`,
          `remove ${node.role} from allowlistRoles, or run ${name} on a node of another role`,
        );
    }
  c.egress.allow.forEach((a, i) =>
    a.roles?.forEach((role, j) => {
      if (!roles.includes(role))
        p.add(
          k(`allow[${i}].roles[${j}]`),
          `${show(role)} is not in allowlistRoles, so its outbound traffic is open and the entry changes nothing`,
          `add ${role} to allowlistRoles, or remove it here`,
        );
    }),
  );
  if (roles.length === 0 && c.egress.allow.length > 0)
    p.add(
      k("allow"),
      "lists destinations, but allowlistRoles is empty: every node's outbound traffic is open",
      "name the roles to restrict in allowlistRoles, or remove allow",
    );
}

/** The first control character of a text (line breaks included), named, or undefined. */
/** Hetzner places at most this many servers in one spread placement group (the stack has one). */
const SPREAD_GROUP_MAX = 10;

/** Pools: unique names, and the stack's servers within what its placement group holds. */
function checkPools(c: StackConfig, nodes: readonly StackNode[], p: Problems): void {
  const seen = new Set<string>();
  c.pools.forEach((pool, i) => {
    if (seen.has(pool.name))
      p.add(
        `${PROJECT}:pools[${i}].name`,
        `${show(pool.name)} is used by another pool`,
        "give every pool its own name",
      );
    seen.add(pool.name);
  });
  if (nodes.length > SPREAD_GROUP_MAX)
    p.add(
      `${PROJECT}:pools`,
      `make the stack ${nodes.length} servers, but its spread placement group holds at most ${SPREAD_GROUP_MAX}`,
      `lower the pools' counts to ${SPREAD_GROUP_MAX - (nodes.length - nodes.filter((n) => n.pool).length)} servers in all, or use fewer, larger servers`,
    );
}

/**
 * A custom class C interface names the services that connect to it (the host firewall admits their nodes
 * and no one else in the private network); other classes have no clients to name.
 */
function checkClients(c: StackConfig, serviceHomes: ReadonlyMap<string, string[]>, p: Problems): void {
  const k = (rest: string) => `${PROJECT}:${rest}`;
  const known = [...new Set([...CATALOG_SERVICE_NAMES, ...serviceHomes.keys(), BALANCER_CLIENT])].sort();
  for (const node of new Map(stackNodes(c).map((n) => [n.path, n])).values()) {
    node.config.services.forEach((s, si) => {
      if (typeof s === "string") return;
      s.interfaces.forEach((itf, j) => {
        const w = k(`${node.path}.services[${si}].interfaces[${j}]`);
        if (itf.class !== "C") {
          if (itf.clients)
            p.add(
              `${w}.clients`,
              `is set on a class ${itf.class} interface; only class C admits named clients`,
              itf.class === "D" ? "remove clients (localhost only)" : "remove clients, or make the interface class C",
            );
          return;
        }
        if (!itf.clients || itf.clients.length === 0) {
          p.add(
            `${w}.clients`,
            `is missing: ${itf.protocol}/${itf.port} on the private network would admit no node`,
            `name the services that connect, e.g. clients: [agentd-worker] (services: ${known.join(", ")})`,
          );
          return;
        }
        itf.clients.forEach((name, ci) => {
          if (name === BALANCER_CLIENT) {
            if (!balanced(c, node))
              p.add(
                `${w}.clients[${ci}]`,
                `names the load balancer, but it does not front ${targetName(node)}`,
                `add ${targetName(node)} to ${PROJECT}:loadBalancer.targets, or remove ${BALANCER_CLIENT} from clients`,
              );
          } else if (!known.includes(name)) {
            const guess = closest(name, known);
            p.add(
              `${w}.clients[${ci}]`,
              `${show(name)} is neither a catalog service nor a service of this stack`,
              `use one of ${known.join(", ")}${guess ? ` (did you mean "${guess}"?)` : ""}`,
            );
          } else if (!serviceHomes.has(name) && !SERVICE_CATALOG[name]?.baseline)
            p.add(
              `${w}.clients[${ci}]`,
              `${show(name)} runs on no enabled node, so the port admits no one`,
              `add ${name} to a node's services, or remove it from clients`,
            );
        });
      });
    });
  }
}

function controlCharacter(text: string): string | undefined {
  const m = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.exec(text);
  if (!m) return undefined;
  const code = m[0].codePointAt(0)!;
  return `${code === 10 ? "a line break" : code === 13 ? "a carriage return" : code === 9 ? "a tab" : "a control character"} (U+${code.toString(16).toUpperCase().padStart(4, "0")}) at position ${m.index + 1}`;
}

/** Why a command cannot be an ExecStart line as it is, or undefined. Words are split on single
 * spaces; no quoting, no systemd specifiers (%), no variables ($), no shell. */
function unitCommandProblem(cmd: string): string | undefined {
  const control = controlCharacter(cmd);
  if (control) return `contains ${control}`;
  const words = cmd.split(" ");
  if (words.some((w) => w === "")) return "has an empty word (leading, trailing or double space)";
  for (const w of words) {
    const bad = /[^A-Za-z0-9._/=:,@+-]/.exec(w);
    if (bad)
      return `has ${JSON.stringify(bad[0])} in ${JSON.stringify(w)}${bad[0] === "%" ? " (a systemd specifier)" : bad[0] === "$" ? " (a variable)" : ""}`;
  }
  const program = words[0]!;
  if (program.startsWith("/") || program.split("/").includes(".."))
    return `starts with ${JSON.stringify(program)}, which is not a path inside the release`;
  return undefined;
}

/** Directories a volume must not hide (mounted on them or on a parent of them). */
const SYSTEM_DIRS = [
  "/boot",
  "/etc",
  "/usr",
  "/var",
  "/var/lib",
  "/var/log",
  "/home",
  "/root",
  "/tmp",
  "/opt",
  "/srv",
  "/bin",
  "/sbin",
  "/lib",
  "/lib64",
];
/** Kernel and runtime filesystems: nothing of ours is mounted inside them. */
const PSEUDO_FS = ["/proc", "/sys", "/dev", "/run"];

/** Why a volume's mount point is unsafe, or undefined. The path is taken apart, not compared as text. */
function mountPointProblem(mp: string): { problem: string; fix: string } | undefined {
  const normal = path.posix.normalize(mp);
  if (mp.split("/").some((seg) => seg === "." || seg === ".."))
    return {
      problem: "has . or .. in it",
      fix: `write the path it means without them${normal !== mp ? ` (${normal})` : ""}`,
    };
  if (normal !== mp) return { problem: "is not in normal form", fix: `write ${normal.replace(/\/$/, "") || "/"}` };
  const inside = (dir: string, parent: string) => dir === parent || dir.startsWith(`${parent}/`);
  const pseudo = PSEUDO_FS.find((fs) => inside(mp, fs));
  if (pseudo)
    return {
      problem: `is inside ${pseudo}, a kernel or runtime filesystem`,
      fix: "mount the volume below /srv or /var/lib",
    };
  const hidden = SYSTEM_DIRS.find((dir) => inside(dir, mp));
  if (mp === "/" || hidden)
    return {
      problem: `would hide the system directory ${hidden ?? "/"}`,
      fix: `mount below it, e.g. ${NODE_LAYOUT.XIOPRO_PG_VOLUME} or /srv/agentd`,
    };
  return undefined;
}

/** Why a PEM text is not a usable root for Caddy's acme_ca_root, or undefined when it is. */
function acmeRootProblem(pem: string): string | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return "holds no PEM certificate";
  for (const [i, block] of blocks.entries()) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (e) {
      return `certificate ${i + 1} does not parse (${(e as Error).message})`;
    }
    if (!cert.ca) return `certificate ${i + 1} (${cert.subject.replace(/\n/g, ", ")}) is not a CA certificate`;
    if (Date.parse(cert.validTo) < Date.now())
      return `certificate ${i + 1} (${cert.subject.replace(/\n/g, ", ")}) expired on ${cert.validTo}`;
  }
  return undefined;
}

/** Hetzner Cloud's limit of volumes attached to one server. */
const HETZNER_VOLUMES_PER_SERVER = 16;

function checkNode(
  node: StackNode,
  c: StackConfig,
  cat: Catalog,
  p: Problems,
  locOk: (where: string, loc: string) => boolean,
): void {
  const n = node.config;
  const nk = node.path;
  const k = (rest: string) => `${PROJECT}:${nk}.${rest}`;
  const loc = n.location ?? c.location;
  const locGood = n.location === undefined ? own(cat.locations, loc) !== undefined : locOk(k("location"), loc);
  if (
    locGood &&
    own(cat.locations, loc) &&
    own(cat.locations, c.location) &&
    own(cat.locations, loc)!.networkZone !== own(cat.locations, c.location)!.networkZone
  ) {
    p.add(
      k("location"),
      `${show(loc)} is in network zone ${own(cat.locations, loc)!.networkZone}, but the private network is in ${own(cat.locations, c.location)!.networkZone}`,
      `use a location in ${own(cat.locations, c.location)!.networkZone}`,
    );
  }
  if (n.serverType === undefined) {
    p.add(
      k("serverType"),
      "is not set, but the node is enabled",
      `set a server type such as cpx42, or set ${nk}.enabled: false`,
    );
  } else {
    const t = own(cat.serverTypes, n.serverType);
    if (!t) {
      const guess = closest(n.serverType, serverTypeNames(cat));
      p.add(
        k("serverType"),
        `${show(n.serverType)} is not a Hetzner server type in the catalog (${cat.catalogDate})`,
        `use one of ${serverTypeNames(cat).join(", ")}${guess ? ` (did you mean "${guess}"?)` : ""}`,
      );
    } else if (locGood && t.monthly[loc] === undefined) {
      p.add(
        k("serverType"),
        `${show(n.serverType)} is not sold in ${loc}`,
        `use a location where it is sold (${Object.keys(t.monthly).join(", ")}), or another type`,
      );
    } else if (locGood) {
      const why = orderProblem(cat, n.serverType, loc);
      if (why) p.add(k("serverType"), why.problem, why.fix);
    }
  }
  const image = own(IMAGES, n.image);
  if (!image) {
    p.add(k("image"), `${show(n.image)} is not a supported image`, `use one of ${Object.keys(IMAGES).join(", ")}`);
  } else if (
    (c.backup.repository.kind === "sftp" || c.backup.offsite?.kind === "sftp") &&
    runsService(n, "backup") &&
    runsService(n, "postgresql") &&
    compareVersions(image.pgbackrest, PGBACKREST_SFTP_SINCE) < 0
  ) {
    p.add(
      k("image"),
      `${show(n.image)} ships pgBackRest ${image.pgbackrest}, which cannot use an SFTP repository (${c.backup.repository.kind === "sftp" ? "backup.repository" : "backup.offsite"}.kind: sftp needs ${PGBACKREST_SFTP_SINCE} or later)`,
      `use ${Object.keys(IMAGES)
        .filter((i) => compareVersions(own(IMAGES, i)!.pgbackrest, PGBACKREST_SFTP_SINCE) >= 0)
        .join(" or ")}, or an s3 repository`,
    );
  }
  if (!n.publicIpv4 && !n.publicIpv6) {
    // Allowed (a private-only node), but then it must not serve public sites; checked with the sites.
  }
  const seenVol = new Set<string>();
  const seenMount = new Set<string>();
  n.volumes.forEach((v, i) => {
    const w = (f: string) => k(`volumes[${i}].${f}`);
    if (v.sizeGb < VOLUME_MIN_GB || v.sizeGb > VOLUME_MAX_GB)
      p.add(
        w("sizeGb"),
        `${v.sizeGb} GB is outside Hetzner's volume limits`,
        `use ${VOLUME_MIN_GB} to ${VOLUME_MAX_GB} GB`,
      );
    if (seenVol.has(v.name))
      p.add(w("name"), `${show(v.name)} is used twice on ${nk}`, "give each volume its own name");
    if (seenMount.has(v.mountPoint))
      p.add(w("mountPoint"), `${show(v.mountPoint)} is used twice on ${nk}`, "mount each volume at its own path");
    const why = mountPointProblem(v.mountPoint);
    if (why) p.add(w("mountPoint"), `${show(v.mountPoint)} ${why.problem}`, why.fix);
    seenVol.add(v.name);
    seenMount.add(v.mountPoint);
  });
  for (const key of Object.keys(n.labels)) {
    if ((TOOLKIT_LABELS as readonly string[]).includes(key))
      p.add(k(`labels.${key}`), "is set by the toolkit", `remove it; the toolkit sets ${TOOLKIT_LABELS.join(", ")}`);
  }
  // A custom service may not claim a port another service on this node listens on.
  const claimed = new Map<string, string>();
  const catalogOnNode = [
    ...Object.values(SERVICE_CATALOG)
      .filter((svc) => svc.baseline)
      .map((svc) => svc.name),
    ...n.services.filter((svc): svc is string => typeof svc === "string"),
  ];
  for (const name of catalogOnNode)
    for (const i of SERVICE_CATALOG[name]?.interfaces ?? []) claimed.set(`${i.port}/${i.protocol}`, name);
  n.services.forEach((svc, si) => {
    if (typeof svc === "string") return;
    svc.interfaces.forEach((i, ii) => {
      const at = `${i.port}/${i.protocol}`;
      const owner = claimed.get(at);
      if (owner && owner !== svc.name)
        p.add(
          k(`services[${si}].interfaces[${ii}].port`),
          `${at} is already ${owner}'s on ${nk}`,
          "choose a port no other service of this node uses",
        );
      else claimed.set(at, svc.name);
    });
  });
  if (n.volumes.length > HETZNER_VOLUMES_PER_SERVER)
    p.add(
      k("volumes"),
      `has ${n.volumes.length} volumes; Hetzner attaches at most ${HETZNER_VOLUMES_PER_SERVER} to a server`,
      `use at most ${HETZNER_VOLUMES_PER_SERVER}, or fewer, larger volumes`,
    );
  const seenSvc = new Set<string>();
  n.services.forEach((s, i) => {
    const w = k(`services[${i}]`);
    const name = typeof s === "string" ? s : s.name;
    if (seenSvc.has(name)) p.add(w, `${show(name)} is listed twice`, "list each service once");
    seenSvc.add(name);
    if (typeof s === "string") {
      if (!SERVICE_CATALOG[s]) {
        const guess = closest(s, CATALOG_SERVICE_NAMES);
        p.add(
          w,
          `${show(s)} is not a catalog service`,
          `use one of ${CATALOG_SERVICE_NAMES.join(", ")}${guess ? ` (did you mean "${guess}"?)` : ""}, or declare {name, interfaces} with class, owner and justification`,
        );
      } else if (SERVICE_CATALOG[s]!.baseline) {
        p.add(w, `${show(s)} is always present`, "remove it from the list");
      }
    } else {
      if (SERVICE_CATALOG[s.name])
        p.add(
          `${w}.name`,
          `${show(s.name)} is a catalog service and cannot be redefined`,
          "list it by name, or give the custom service another name",
        );
      s.interfaces.forEach((itf, j) => {
        if (itf.class === "A" && itf.protocol === "tcp" && itf.port !== 443 && itf.port !== 80) {
          p.add(
            `${w}.interfaces[${j}].class`,
            `class A on tcp/${itf.port} bypasses the reverse proxy`,
            "publish it through ingress (a class D upstream plus an ingress site), or use class B/C",
          );
        }
      });
    }
  });
  if (n.services.includes("postgresql") && !n.volumes.some((v) => v.mountPoint === NODE_LAYOUT.XIOPRO_PG_VOLUME)) {
    p.add(
      k("volumes"),
      `has no volume mounted at ${NODE_LAYOUT.XIOPRO_PG_VOLUME}, but the node runs postgresql`,
      `add a volume {name: pgdata, sizeGb: 50, mountPoint: ${NODE_LAYOUT.XIOPRO_PG_VOLUME}} so the database lives on a protected volume`,
    );
  }
}

/** The localhost tcp port Caddy should proxy to for a service, if it has one. */
const runsService = (n: NodeConfig, name: string) =>
  n.services.some((s) => (typeof s === "string" ? s : s.name) === name);

export function localUpstream(node: NodeConfig, service: string): number | undefined {
  const entry = node.services.find((s) => (typeof s === "string" ? s : s.name) === service);
  if (entry === undefined) return undefined;
  // A platform service may be published only through an interface the catalog marks for it; an
  // operator's own service through its localhost interface.
  if (typeof entry === "string")
    return SERVICE_CATALOG[entry]?.interfaces.find((i) => i.siteUpstream && i.class === "D" && i.protocol === "tcp")
      ?.port;
  return entry.interfaces.find((i) => i.class === "D" && i.protocol === "tcp")?.port;
}

/** A plain-text report of all problems, for humans (CLI and `pulumi up`). */
export function formatProblems(stack: string, problems: readonly Problem[]): string {
  const lines = [
    `Stack config "${stack}" has ${problems.length} problem${problems.length === 1 ? "" : "s"}; nothing was declared or changed:`,
  ];
  for (const pr of problems) lines.push(`  - ${pr.key}: ${pr.message}`, `      fix: ${pr.fix}`);
  return lines.join("\n");
}
