// docs/services.md, generated: every catalog service with its interfaces, units, packages, files,
// options, credentials, scheduled jobs and acceptance checks. Pure: it folds over the descriptors and
// the plan's folds of them (secrets.ts, jobs.ts), so nothing here is a second copy of them. Credentials and jobs
// are attributed by asking the plan: a credential belongs to the service without which the node
// would not get it. test/plan/services-doc.test.ts fails when the file is stale.
import type { z } from "zod";
import { CONFIG_KEYS, PROJECT, STACK_CONFIG, type StackConfig } from "../config/keys.js";
import { docOf, parse } from "../catalog/schema.js";
import { BACKUP_JOBS, jobsFor, type JobSpec } from "./jobs.js";
import { HOST_PACKAGES } from "./packages.js";
import { nodeSecrets, requiredSecretKeys, type SecretGrant, type SecretPlan } from "../config/secrets.js";
import { ACCESS, SERVICE_CATALOG, type ServiceSpec } from "../catalog/services.js";

export const SERVICES_DOC = "docs/services.md";

type RepositoryKind = StackConfig["backup"]["repository"]["kind"];
/** Every repository kind (a Record, so a new kind fails to compile until it is listed). */
const REPOSITORY_KINDS: Record<RepositoryKind, true> = { s3: true, sftp: true, posix: true };
/** Entry name standing for any entry of a secret map (providerKeys, webSecrets). */
const ENTRY = "ENV_NAME";

/** Catalog order: the order the catalog declares its services in. */
const ALL = Object.keys(SERVICE_CATALOG);
/** Services that must not share a node with another (the WAL receiver): Node C runs them. */
const APART = ALL.filter((s) => (SERVICE_CATALOG[s]!.apartFrom ?? []).length > 0);

/**
 * A stack config in which every secret the plan knows is needed: every service on Node A (those
 * that must be apart from another on Node C), alert e-mail with SMTP login, a webhook, one entry in each secret map.
 * Parsed by the stack schema (not the rules between keys), so a renamed or retyped key fails here.
 */
function everySecretConfig(kind: RepositoryKind): StackConfig {
  const result = parse(
    STACK_CONFIG,
    {
      environment: "dev",
      domain: "example.com",
      sshPublicKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDB9G3m1dHJK7k15eFr0mLMhoZYI+EDPgkoHFLKDIdku docs@example"],
      nodeA: { services: ALL.filter((s) => !SERVICE_CATALOG[s]!.baseline && !APART.includes(s)) },
      nodeC: { enabled: true, services: APART },
      backup: { repository: { kind } },
      monitoring: {
        email: {
          to: ["ops@example.com"],
          from: "alerts@example.com",
          smarthost: "smtp.example.com:587",
          username: "a",
        },
        webhook: { url: "https://hooks.example.com/alerts" },
      },
      providerKeys: { [ENTRY]: "x" },
      webSecrets: { [ENTRY]: "x" },
    },
    PROJECT,
    ":",
  );
  if (!result.ok) throw new Error(`services-doc config: ${result.problems.map((p) => `${p.key} ${p.message}`)}`);
  return result.value;
}

interface Credential {
  secret: SecretPlan;
  grants: SecretGrant[];
  /** Services that must also run on the node for the service at hand to get it. */
  with: string[];
}

/** Credentials per service: those a node gets because it runs the service (alone, or with one other). */
function credentialsByService(): Map<string, Credential[]> {
  const out = new Map<string, Credential[]>(ALL.map((s) => [s, []]));
  for (const kind of Object.keys(REPOSITORY_KINDS) as RepositoryKind[]) {
    const config = everySecretConfig(kind);
    const files = (services: string[]) => new Set(nodeSecrets(config, services).map((s) => s.file));
    const all = nodeSecrets(config, ALL);
    for (const file of new Set(all.map((s) => s.file))) {
      const merged = all.filter((s) => s.file === file);
      const grants = merged.flatMap((s) => s.grants);
      let owners: [string, string[]][] = ALL.filter((s) => files([s]).has(file)).map((s) => [s, []]);
      if (owners.length === 0)
        owners = ALL.flatMap((s) =>
          ALL.filter((t) => t !== s && files([s, t]).has(file)).map((t): [string, string[]] => [s, [t]]),
        );
      for (const [service, also] of owners) {
        const list = out.get(service)!;
        if (!list.some((c) => c.secret.file === file)) list.push({ secret: merged[0]!, grants, with: also });
      }
    }
  }
  return out;
}

/** Jobs per service: those a node loses when the service is removed, with the other services they need. */
function jobsByService(): Map<string, { job: JobSpec; with: string[] }[]> {
  const present = (services: string[]) => new Set(jobsFor(services).map((j) => j.job));
  const everything = present(ALL);
  const needs = new Map(
    BACKUP_JOBS.filter((j) => everything.has(j.job)).map((j) => [
      j.job,
      ALL.filter((s) => !present(ALL.filter((x) => x !== s)).has(j.job)),
    ]),
  );
  return new Map(
    ALL.map((s) => [
      s,
      BACKUP_JOBS.filter((j) => needs.get(j.job)?.includes(s)).map((job) => ({
        job,
        with: needs.get(job.job)!.filter((x) => x !== s),
      })),
    ]),
  );
}

const cell = (text: string) => text.replace(/\|/g, "\\|");
const code = (text: string) => `\`${text}\``;
const list = (items: readonly string[]) => (items.length === 0 ? "—" : items.map(code).join(", "));
const withOthers = (others: string[]) => (others.length === 0 ? "" : ` (with ${others.map(code).join(", ")})`);

/** A secret-map entry shown as a pattern: provider-<env-name>, id <ENV_NAME>. */
function entryPattern(text: string): string {
  const file = ENTRY.toLowerCase().replace(/_/g, "-");
  return text.replace(ENTRY, `<${ENTRY}>`).replace(file, `<${file}>`);
}

function credentialRow(c: Credential): string {
  const s = c.secret;
  const source =
    s.source === "generated"
      ? "generated by the stack"
      : code(s.configEntry ? `${s.configKey}.<${ENTRY}>` : s.configKey!);
  const what =
    s.source === "config" && !s.configEntry
      ? docOf((CONFIG_KEYS as Record<string, z.ZodType>)[s.configKey!]!).description
      : s.description;
  const readers = c.grants.map((g) => `${code(g.unit)} as ${code(entryPattern(g.id))}`).join(", ");
  return `| ${code(entryPattern(s.file))}${withOthers(c.with)} | ${source} | ${cell(entryPattern(what))} | ${readers} |`;
}

/** What acceptance checks for the service, with its options at their defaults. */
function checkLines(spec: ServiceSpec): string[] {
  const out = [
    ...spec.units.map((u) => `${code(u)} active`),
    ...spec.timers.map((t) => `${code(t)} scheduled`),
    ...(spec.jobs ?? []).map((j) => `${code(j.job)} succeeded within ${j.maxAgeHours} h`),
  ];
  if (spec.interfaces.length > 0)
    out.push(
      spec.interfaces.some((i) => i.class === "A")
        ? "its class-A ports answer from the internet, the others do not"
        : "none of its ports answers from the internet",
    );
  if (spec.options) {
    const defaults = spec.options.parse(undefined);
    const self = { key: "nodeC", name: "<its node>", privateIp: "<its address>", services: [spec.name], volumes: [] };
    // A stack in which another node runs every other service.
    const other = { key: "nodeA", name: "<node>", privateIp: "<address>", services: ALL, volumes: [] };
    const host = { node: self.name, image: "debian-13", imageFacts: undefined, architecture: undefined };
    const own = spec.additions?.(defaults, host, [other, self]);
    for (const c of own?.sqlChecks ?? []) out.push(`${c.name} (SQL)`);
    for (const lent of spec.lends?.(defaults, self) ?? [])
      for (const c of lent.additions.sqlChecks ?? []) out.push(`on the ${lent.service} node: ${c.name} (SQL)`);
  }
  return out;
}

/** The service's own config key and its fields (docs/adr/0006-service-options.md). */
function optionLines(spec: ServiceSpec): string[] {
  if (!spec.options) return [];
  const fields = Object.entries(docOf(spec.options).fields ?? {}).map(([name, schema]) => {
    const d = docOf(schema);
    return `  - ${code(name)} (${d.typeName}, default ${code(JSON.stringify(d.defaultValue))}): ${d.description}`;
  });
  return [`- Options: ${code(`${PROJECT}:${spec.name}`)} (docs/config.md)`, ...fields];
}

function serviceSection(
  spec: ServiceSpec,
  credentials: Credential[],
  jobs: { job: JobSpec; with: string[] }[],
): string[] {
  const lines = [`## ${spec.name}`, "", `${spec.description}.`];
  const where = [
    spec.baseline ? "Runs on every node, listed or not." : "",
    spec.singleton ? "At most one node of a stack runs it." : "",
  ].filter(Boolean);
  if (where.length > 0) lines.push("", where.join(" "));
  lines.push("");
  if (spec.interfaces.length === 0) lines.push("Interfaces: none (it listens on no port).");
  else
    lines.push(
      "| interface | port | class | bound to | owner | access | justification |",
      "|---|---|---|---|---|---|---|",
      ...spec.interfaces.map(
        (i) =>
          `| ${code(i.name)} | ${i.port}/${i.protocol} | ${i.class} | ${i.bind} | ${cell(i.owner)} | ${cell(i.clients ? `${i.access}: ${i.clients.join(", ")}` : i.access)} | ${cell(i.justification)} |`,
      ),
    );
  const p = spec.packages;
  const packages = p
    ? [
        list(p.names) +
          (p.onlyWithSshAllowlist ? " (only with an SSH allowlist, `adminPath.sshAllowlist`)" : "") +
          (p.note ? `: ${p.note}` : ""),
      ]
    : [];
  lines.push(
    "",
    `- Units (must be active): ${list(spec.units)}`,
    `- Timers (must be scheduled): ${list(spec.timers)}`,
    `- Packages: ${packages.length === 0 ? "—" : packages.join("; ")}`,
    ...(p?.restart ? [`- Restarted after the packages install (their config comes first): ${list(p.restart)}`] : []),
    ...Object.entries(spec.startedBy ?? {}).map(([unit, by]) => `- ${code(unit)} is started by ${by}`),
    ...(spec.files
      ? [
          `- Files (from templates): ${spec.files.map((f) => `${code(f.path)} ← ${code(f.template)}${f.afterBoot ? " (operations bundle)" : ""}`).join(", ")}`,
        ]
      : []),
    ...(spec.configs
      ? [`- Generated config files (renderers in \`cloud-init/render.ts\`): ${list(spec.configs)}`]
      : []),
    ...optionLines(spec),
    `- Acceptance checks (\`npm run accept\`): ${checkLines(spec).join("; ") || "—"}`,
  );
  if (jobs.length > 0)
    lines.push(
      "",
      "Scheduled jobs (each a timer that starts its unit):",
      "",
      "| job | timer | unit | calendar | purpose |",
      "|---|---|---|---|---|",
      ...jobs.map(
        ({ job: j, with: also }) =>
          `| ${code(j.job)}${withOthers(also)} | ${code(j.timer)} | ${code(j.unit)} | ${code(j.calendar)} | ${cell(j.purpose)} |`,
      ),
    );
  lines.push("");
  if (credentials.length === 0) lines.push("Credentials: none.");
  else
    lines.push(
      "Credentials:",
      "",
      "| credential | source | what | read by (unit as credential id) |",
      "|---|---|---|---|",
      ...credentials.map(credentialRow),
    );
  lines.push("");
  return lines;
}

/** The markdown of docs/services.md. */
export function servicesMarkdown(): string {
  const credentials = credentialsByService();
  const jobs = jobsByService();
  const credentialKeys = new Set(
    [...credentials.values()].flatMap((cs) => cs.flatMap((c) => (c.secret.configKey ? [c.secret.configKey] : []))),
  );
  const otherSecrets = requiredSecretKeys(everySecretConfig("s3"), [ALL]).filter((k) => !credentialKeys.has(k.key));
  const ports = (spec: ServiceSpec) =>
    spec.interfaces.length === 0 ? "—" : spec.interfaces.map((i) => `${i.port}/${i.protocol} ${i.class}`).join(", ");
  return [
    "# Services",
    "",
    "Generated from the service descriptors (`infra/catalog/services/`, registered in `infra/catalog/services.ts`:",
    "interfaces, units, packages, files, credentials, jobs, options, alerts) and the host packages",
    "(`infra/plan/packages.ts`) by `servicesMarkdown()` in `infra/plan/services-doc.ts`. Edit those, not this file;",
    "`test/plan/services-doc.test.ts` fails when it is stale.",
    "",
    "How to read it:",
    "",
    "- Every interface has an exposure class (docs/architecture.md D5). The cloud firewall, the host",
    "  firewall and the acceptance port scan are derived from the same rows. A class C interface names",
    "  its clients: the host firewall admits the private addresses of the nodes that run them, and drops",
    "  every other address of the private network (`npm run accept:private` proves it from a host there).",
    "- `npm run accept` checks on each node that the units are active, the timers scheduled, the jobs",
    "  fresh, and that exactly the class-A ports answer from the internet.",
    "- The plan adds per node: one `agentd-worker@N.service` per `agentd.workers`, and the timer of each",
    "  scheduled job the node runs.",
    `- Packages are Debian packages installed at first boot. Every node also gets ${list(HOST_PACKAGES)}.`,
    "- Credentials are delivered after boot over the admin path and stored encrypted with",
    "  `systemd-creds`; only the listed units can read them (docs/architecture.md D3, docs/secrets.md). A",
    "  credential marked (with …) comes only when the named service runs on the same node too.",
    "- Scrape jobs and alert rules: docs/observability.md.",
    "",
    "| class | who may reach it |",
    "|---|---|",
    ...Object.entries(ACCESS).map(([c, a]) => `| ${c} | ${cell(a)} |`),
    "",
    "| service | what | ports |",
    "|---|---|---|",
    ...ALL.map((s) => SERVICE_CATALOG[s]!).map(
      (spec) => `| [${spec.name}](#${spec.name}) | ${cell(spec.description)} | ${ports(spec)} |`,
    ),
    "",
    ...ALL.flatMap((s) => serviceSection(SERVICE_CATALOG[s]!, credentials.get(s)!, jobs.get(s)!)),
    "## Other stack secrets",
    "",
    "Set with `pulumi config set --secret`; used by Pulumi or at first boot, not delivered to a unit.",
    "",
    "| key | why |",
    "|---|---|",
    ...otherSecrets.map((k) => `| ${code(k.key)} | ${cell(k.why)} |`),
    "",
  ].join("\n");
}
