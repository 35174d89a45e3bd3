// The policies of the xiopro-infra policy pack (policy/index.ts serves them; test/policy/policy.test.ts runs
// them against resources recorded from the mock program). A second line of defence on the resource
// graph: each policy judges a resource by what the resource itself carries (type, inputs, URN,
// options), never by the stack config, so whatever a program bug writes is judged as written. Which
// ports are class A comes from the service catalog, the one place ports live.
import * as hcloud from "@pulumi/hcloud";
import {
  validateResourceOfType,
  type ReportViolation,
  type ResourceValidationArgs,
  type ResourceValidationPolicy,
} from "@pulumi/policy";
import { coversAll, parseSourceCidr, type SourceRange } from "../infra/config/cidr.js";
import { SERVICE_CATALOG } from "../infra/catalog/services.js";

/** Every catalog interface with its protocol, port and class ("service/interface" names it). */
const CATALOG_PORTS = Object.values(SERVICE_CATALOG).flatMap((s) =>
  s.interfaces.map((i) => ({
    protocol: i.protocol as string,
    port: i.port,
    cls: i.class,
    where: `${s.name}/${i.name}`,
  })),
);

const isClassA = (protocol: string, port: number) =>
  CATALOG_PORTS.some((f) => f.cls === "A" && f.protocol === protocol && f.port === port);

/** "tcp 80, tcp 443, udp 443": the only ports the internet may reach. */
const CLASS_A_PORTS = [
  ...new Set(
    CATALOG_PORTS.filter((f) => f.cls === "A")
      .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port)
      .map((f) => `${f.protocol} ${f.port}`),
  ),
].join(", ");

const MAX_PORT = 65535;

/** A firewall rule as the policies read it: which ports, and which sources parsed as ranges. */
interface InboundRule {
  /** 1-based position in the firewall's rules (outbound ones count too). */
  number: number;
  protocol: string;
  /** First and last port; undefined for protocols without ports (icmp, gre, esp). */
  ports?: [number, number];
  sources: { text: string; range: SourceRange }[];
  unreadable: { text: string; problem: string; fix: string }[];
}

// "any" (or no port) is every port; an unreadable port is treated as every port too, so a typo
// can only make a rule look wider than it is, never narrower.
function portRange(protocol: string, port: string | undefined): [number, number] | undefined {
  if (protocol !== "tcp" && protocol !== "udp") return undefined;
  const single = /^(\d{1,5})$/.exec(port ?? "");
  if (single) return [Number(single[1]), Number(single[1])];
  const range = /^(\d{1,5})-(\d{1,5})$/.exec(port ?? "");
  if (range) return [Number(range[1]), Number(range[2])];
  return [1, MAX_PORT];
}

type FirewallRuleProps = { direction: string; protocol: string; port?: string; sourceIps?: string[] };

function inboundRules(rules: readonly FirewallRuleProps[] | undefined): InboundRule[] {
  const out: InboundRule[] = [];
  (rules ?? []).forEach((r, i) => {
    if (r.direction !== "in") return;
    const rule: InboundRule = {
      number: i + 1,
      protocol: r.protocol,
      ports: portRange(r.protocol, r.port),
      sources: [],
      unreadable: [],
    };
    for (const text of r.sourceIps ?? []) {
      const parsed = parseSourceCidr(text);
      if ("problem" in parsed) rule.unreadable.push({ text, ...parsed });
      else rule.sources.push({ text, range: parsed });
    }
    out.push(rule);
  });
  return out;
}

/** The address families whose every address the rules together let in (the rules of a firewall add up). */
const openFamilies = (rules: readonly InboundRule[]): (4 | 6)[] =>
  ([4, 6] as const).filter((f) =>
    coversAll(
      rules.flatMap((r) => r.sources.map((s) => s.range)),
      f,
    ),
  );

/** The rules that let in part of those families: the ones a message names. */
const involved = (rules: readonly InboundRule[], families: readonly (4 | 6)[]) =>
  rules.filter((r) => r.sources.some((s) => families.includes(s.range.family)));

const everyAddress = (families: readonly (4 | 6)[]) => `every ${families.map((f) => `IPv${f}`).join(" and ")} address`;
const ruleList = (rules: readonly InboundRule[]) =>
  rules.length === 1 ? `rule ${rules[0]!.number} opens` : `rules ${rules.map((r) => r.number).join(", ")} open`;
const portText = (p: [number, number]) => (p[0] === p[1] ? `${p[0]}` : `${p[0]}-${p[1]}`);

/** Ports of one protocol cut where any rule starts or ends: within a piece, the same rules apply. */
function pieces(rules: readonly InboundRule[]): { ports: [number, number]; rules: InboundRule[] }[] {
  const cuts = [...new Set(rules.flatMap((r) => [r.ports![0], r.ports![1] + 1]))].sort((a, b) => a - b);
  const out: { ports: [number, number]; rules: InboundRule[] }[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const ports: [number, number] = [cuts[i]!, cuts[i + 1]! - 1];
    const covering = rules.filter((r) => r.ports![0] <= ports[0] && r.ports![1] >= ports[1]);
    if (covering.length > 0) out.push({ ports, rules: covering });
  }
  return out;
}

export const serverFirewallAtCreation: ResourceValidationPolicy = {
  name: "server-firewall-at-creation",
  description:
    "A Hetzner server gets its cloud firewall at creation (firewallIds), so it never boots unfiltered (docs/architecture.md D5).",
  validateResource: validateResourceOfType(hcloud.Server, (server, _args, reportViolation) => {
    // Only the list's length is read: in a first preview the firewall's id itself is not known yet.
    if ((server.firewallIds?.length ?? 0) === 0) {
      reportViolation(
        "server has no firewallIds: it would boot with no cloud firewall in front of it; give it its node's firewall at creation (docs/architecture.md D5)",
      );
    }
  }),
};

export const internetOpenClassAOnly: ResourceValidationPolicy = {
  name: "internet-open-class-a-only",
  description:
    "A cloud firewall opens only class-A ports of the service catalog (and ICMP) to every IPv4 or IPv6 address.",
  validateResource: validateResourceOfType(hcloud.Firewall, (fw, _args, reportViolation) => {
    const rules = inboundRules(fw.rules);
    // A source the policy cannot read could be anything: refuse rather than guess.
    for (const r of rules) {
      for (const u of r.unreadable)
        reportViolation(
          `rule ${r.number} has source ${JSON.stringify(u.text)}, which ${u.problem}, so the policy cannot tell whom it lets in; ${u.fix}`,
        );
    }
    const byProtocol = new Map<string, InboundRule[]>();
    for (const r of rules) byProtocol.set(r.protocol, [...(byProtocol.get(r.protocol) ?? []), r]);
    const only = `only class-A ports may be open to the internet: ${CLASS_A_PORTS}`;
    for (const [protocol, group] of byProtocol) {
      // ICMP carries no port and no service: reachability checks and path-MTU discovery need it.
      if (protocol === "icmp") continue;
      if (group[0]!.ports === undefined) {
        const families = openFamilies(group);
        if (families.length > 0)
          reportViolation(
            `${ruleList(involved(group, families))} ${protocol} to ${everyAddress(families)}, but ${protocol} is no class-A interface of the service catalog; ${only}`,
          );
        continue;
      }
      // Adjacent open pieces with the same families are reported once, as one range.
      const open: { ports: [number, number]; rules: InboundRule[]; families: (4 | 6)[] }[] = [];
      for (const piece of pieces(group)) {
        const families = openFamilies(piece.rules);
        if (families.length === 0 || (piece.ports[0] === piece.ports[1] && isClassA(protocol, piece.ports[0])))
          continue;
        const last = open[open.length - 1];
        if (last && last.ports[1] + 1 === piece.ports[0] && last.families.join() === families.join()) {
          last.ports = [last.ports[0], piece.ports[1]];
          for (const r of involved(piece.rules, families)) if (!last.rules.includes(r)) last.rules.push(r);
        } else open.push({ ports: piece.ports, rules: involved(piece.rules, families), families });
      }
      for (const o of open) {
        const what = `${protocol} ${portText(o.ports)}`;
        const facts =
          o.ports[0] === o.ports[1]
            ? CATALOG_PORTS.filter((f) => f.protocol === protocol && f.port === o.ports[0])
            : [];
        const why =
          facts.length > 0
            ? `${what} is ${facts.map((f) => `class ${f.cls} (${f.where})`).join(", ")}`
            : `${what} is no class-A interface of the service catalog`;
        o.rules.sort((a, b) => a.number - b.number);
        reportViolation(`${ruleList(o.rules)} ${what} to ${everyAddress(o.families)}, but ${why}; ${only}`);
      }
    }
  }),
};

export const noInternetSsh: ResourceValidationPolicy = {
  name: "no-internet-ssh",
  description:
    "No cloud firewall opens SSH (tcp 22) to every IPv4 or IPv6 address: SSH is class B (tailnet or the SSH allowlist).",
  validateResource: validateResourceOfType(hcloud.Firewall, (fw, _args, reportViolation) => {
    const ssh = inboundRules(fw.rules).filter((r) => r.protocol === "tcp" && r.ports![0] <= 22 && r.ports![1] >= 22);
    const families = openFamilies(ssh);
    if (families.length === 0) return;
    // Name the rules and sources that together let everyone in.
    const rules = involved(ssh, families);
    const sources = rules.flatMap((r) => r.sources.filter((s) => families.includes(s.range.family)).map((s) => s.text));
    reportViolation(
      `${ruleList(rules)} SSH (tcp 22) to ${everyAddress(families)} (${sources.join(", ")}); SSH is class B: reach it over the tailnet or from adminPath.sshAllowlist, never from the whole internet`,
    );
  }),
};

/** The stack a URN belongs to: urn:pulumi:<stack>::<project>::<type>::<name>. */
const stackOfUrn = (urn: string): string | undefined => /^urn:pulumi:([^:]+)::/.exec(urn)?.[1];

type Protectable = { deleteProtection?: boolean; labels?: Record<string, string> };

// Stateful: what a replacement or a delete cannot give back. Volumes hold the database and the
// artifacts, the Storage Box the backups, primary IPs the addresses DNS, reverse DNS and allowlists
// point at, the zone the delegated DNS. Servers are cattle (docs/architecture.md D6) and stay out.
function protectedInPrd(kind: string, fix: string) {
  return (props: Protectable, args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    // prd by the stack the URN names, or by the env label the program writes: either is enough.
    if (stackOfUrn(args.urn) !== "prd" && props.labels?.env !== "prd") return;
    if (!args.opts.protect) {
      reportViolation(
        `prd ${kind} has no Pulumi protect: a pulumi destroy or a replacement would delete it; set protection.pulumiProtect${fix} to true`,
      );
    }
    if (props.deleteProtection !== true) {
      reportViolation(
        `prd ${kind} has no deleteProtection: a console click or an API call would delete it; set protection.deleteProtection${fix} to true`,
      );
    }
  };
}

export const prdStatefulProtected: ResourceValidationPolicy = {
  name: "prd-stateful-protected",
  description:
    "In prd, volumes, primary IPs, the Storage Box and the DNS zone carry both Pulumi protect and Hetzner deleteProtection.",
  validateResource: [
    validateResourceOfType(hcloud.Volume, protectedInPrd("volume", " (or this volume's protect)")),
    validateResourceOfType(hcloud.PrimaryIp, protectedInPrd("primary IP", "")),
    validateResourceOfType(hcloud.StorageBox, protectedInPrd("Storage Box", "")),
    validateResourceOfType(hcloud.Zone, protectedInPrd("DNS zone", "")),
  ],
};

export const POLICIES: ResourceValidationPolicy[] = [
  serverFirewallAtCreation,
  internetOpenClassAOnly,
  noInternetSsh,
  prdStatefulProtected,
];
