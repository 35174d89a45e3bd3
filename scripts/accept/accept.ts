// Post-deploy acceptance of one node: outside checks against the public address, facts and
// actions over the admin path, an optional reboot measurement, and a history record.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { SERVICE_CATALOG, SSH_PORT } from "../../infra/catalog/services.js";
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import { execa } from "execa";
import { evaluateFacts, evaluateScan, type CheckResult, type NodeFacts } from "./checks.js";
import { checkSite } from "./https.js";
import { scanUdp } from "./udp.js";
import { scanTcp } from "./scan.js";
import { buildSpec, type AcceptSpec, type AddressFacts } from "./spec.js";
import { ssh, waitForSsh, type SshTarget } from "../lib/ssh.js";
import { REPO_ROOT, splitHostPort, UsageError } from "../lib/cli.js";
import { loadStack, stackOutputs, stackSecrets } from "../lib/stack.js";
import { NODE_LAYOUT } from "../../infra/catalog/layout.js";

/** The database's unit, as the postgresql service declares it (the persistence check restarts it). */
const DATABASE_UNIT = SERVICE_CATALOG.postgresql!.units[0]!;
const FACTS_SCRIPT = path.join(import.meta.dirname, "remote", "facts.py");
const CADDY_ROOT_CA = "/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt";

export interface AcceptOptions {
  stack?: string;
  stackFile?: string;
  node: string;
  /** Stack outputs JSON (as `pulumi stack output --json` prints); read from Pulumi when absent. */
  outputsFile?: string;
  target?: string;
  sshUser: string;
  sshKey?: string;
  publicAddr?: string;
  publicAddr6?: string;
  /** Source address for the outside scan (must not be in the SSH allowlist). */
  scanFrom?: string;
  /** PEM root the sites' certificates chain to, for an ACME CA outside the public trust store. */
  siteCaFile?: string;
  secretsFile?: string;
  reboot: boolean;
  rebootBoundSeconds: number;
  historyFile: string;
}

export interface AcceptRun {
  stack: string;
  node: string;
  commit: string;
  startedAt: string;
  results: CheckResult[];
  timings: Record<string, number>;
  passed: boolean;
}

interface Context {
  plan: Plan;
  node: NodePlan;
  spec: AcceptSpec;
  ssh: SshTarget;
}

async function deployedOutputs(o: AcceptOptions, stack: string): Promise<Record<string, unknown>> {
  if (o.outputsFile) return JSON.parse(fs.readFileSync(o.outputsFile, "utf8")) as Record<string, unknown>;
  const got = await stackOutputs(stack);
  if (!got.ok) throw new UsageError(`${got.why}; pass --outputs FILE or check 'pulumi login'`);
  return got.outputs;
}

async function context(o: AcceptOptions): Promise<Context> {
  // Checking a deployment needs the plan, not the secret values (they come from --secrets-file or Pulumi).
  const { plan } = loadStack({ stack: o.stack, stackFile: o.stackFile });
  const node = plan.nodes.find((n) => n.key === o.node || n.name === o.node);
  if (!node)
    throw new UsageError(
      `node ${o.node} is not in stack ${plan.stack} (nodes: ${plan.nodes.map((n) => n.key).join(", ")})`,
    );
  const outputs = await deployedOutputs(o, plan.stack);
  const out = (
    outputs.nodes as
      | Record<string, { publicIpv4?: string; publicIpv6?: string; volumes?: { name: string; volumeId: string }[] }>
      | undefined
  )?.[node.key];
  const addr: AddressFacts = {
    publicIpv4: o.publicAddr ?? out?.publicIpv4,
    publicIpv6: o.publicAddr6 ?? out?.publicIpv6,
    volumeIds: Object.fromEntries(
      node.volumes.map((v) => [v.key, String(out?.volumes?.find((x) => x.name === v.name)?.volumeId ?? "")]),
    ),
  };
  const spec = buildSpec(plan, node, addr, await stackSecrets(plan.stack, o.secretsFile, { optional: true }));
  const [host, port] = o.target
    ? splitHostPort(o.target)
    : [plan.adminPath.mode === "tailscale" ? node.name : (addr.publicIpv4 ?? node.fqdn), SSH_PORT];
  return { plan, node, spec, ssh: { host, port, user: o.sshUser, key: o.sshKey } };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const v = await fn();
  return [v, (Date.now() - t0) / 1000];
}

/** The full TCP scan of every public address, one family after the other (see scanTcp). */
async function scanChecks(c: Context, o: AcceptOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [family, addr] of [
    ["IPv4", c.spec.publicIpv4],
    ["IPv6", c.spec.publicIpv6],
  ] as const) {
    if (!addr) continue;
    const [scan, s] = await timed(() =>
      scanTcp(addr, { localAddress: family === "IPv4" ? o.scanFrom : undefined, confirm: c.spec.expectTcpOpen }),
    );
    const how = [
      `${scan.passes === 1 ? "1 sweep" : `${scan.passes} sweeps`} of 65535 ports, ${scan.concurrency} at once, ${scan.timeoutMs} ms per port`,
      scan.rttMs === undefined
        ? "no open port to measure the round trip or to check the sweep against"
        : `round trip ${scan.rttMs} ms`,
      scan.canary.probes
        ? `${scan.canary.probes - scan.canary.missed}/${scan.canary.probes} canary probes answered${scan.canary.slowdowns ? `, slowed down ${scan.canary.slowdowns}×` : ""}`
        : "",
    ].filter(Boolean);
    results.push(...evaluateScan(`${family} ${addr}`, c.spec.expectTcpOpen, scan, s, how.join("; ")));
    results.push(...(await scanUdp(addr, c.spec.expectUdpOpen, family === "IPv4" ? o.scanFrom : undefined)));
  }
  return results;
}

async function siteChecks(c: Context, trust: { ca?: string; label?: string }): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const web = c.spec.publicIpv4 ?? c.spec.publicIpv6;
  for (const site of c.spec.sites) {
    if (!web)
      results.push({
        name: `https ${site}`,
        required: true,
        result: "fail",
        detail: "node has no public address",
        seconds: 0,
      });
    else results.push(...(await checkSite(web, site, trust)));
  }
  return results;
}

async function postgresPersistence(c: Context): Promise<CheckResult> {
  const marker = `accept-${Date.now()}-${randomBytes(4).toString("hex")}`;
  const [r, s] = await timed(async () => {
    const psql = (sql: string) => ssh(c.ssh, `sudo -u postgres psql -XAtq -v ON_ERROR_STOP=1 -d postgres -c "${sql}"`);
    const w = await psql(
      `CREATE TABLE IF NOT EXISTS xiopro_acceptance (id text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now()); INSERT INTO xiopro_acceptance (id) VALUES ('${marker}')`,
    );
    if (w.code !== 0) return `write failed: ${w.stderr}`;
    const restart = await ssh(c.ssh, `sudo systemctl restart ${DATABASE_UNIT} && sudo -u postgres pg_isready -q -t 60`);
    if (restart.code !== 0) return `restart failed: ${restart.stderr || restart.stdout}`;
    const read = await psql(`SELECT count(*) FROM xiopro_acceptance WHERE id = '${marker}'`);
    return read.stdout.trim() === "1" ? "" : `marker not found after restart (${read.stdout || read.stderr})`;
  });
  return {
    name: "PostgreSQL persistence across a restart",
    required: true,
    result: r ? "fail" : "pass",
    detail: r || `marker ${marker} written, PostgreSQL restarted, marker read back`,
    seconds: s,
  };
}

/** `timings` gets how long the archive check and each section of the facts took. */
async function nodeChecks(
  c: Context,
  timings: Record<string, number>,
): Promise<{ results: CheckResult[]; ca?: string }> {
  const results: CheckResult[] = [];
  if (c.spec.postgres) {
    results.push(await postgresPersistence(c));
    if (c.spec.jobs.some((j) => j.job === "pgbackrest-check")) {
      // A fresh archive check (forces a WAL switch and waits for its archive); outcome in its state file.
      [, timings.archiveCheckSeconds] = await timed(() =>
        ssh(c.ssh, "sudo systemctl start xiopro-pgbackrest@check.service", undefined, 300_000),
      );
    }
  }
  const args = {
    units: c.spec.units,
    timers: c.spec.timers,
    mounts: c.spec.mounts,
    stateDir: NODE_LAYOUT.XIOPRO_STATE_DIR,
    nodeB: c.spec.nodeB,
    postgres: c.spec.postgres,
    monitoring: c.spec.monitoring,
    startOrder: c.spec.startOrder,
    sqlChecks: c.spec.sqlChecks,
    plaintextRoots: ["/etc", "/opt", "/var", "/srv", "/home", "/root", "/usr/local"],
    // Database files, package caches, the journal and cloud-init's copy of the user-data (which may
    // hold the single-use Tailscale key, docs/architecture.md D3) are not configuration at rest.
    plaintextSkip: [
      NODE_LAYOUT.XIOPRO_PG_VOLUME,
      "/var/cache",
      "/var/lib/apt",
      "/var/log/journal",
      "/var/lib/cloud",
      "/var/lib/dpkg",
      "/srv/agentd/releases",
      "/var/backups",
      "/var/lib/prometheus",
    ],
    secretLengths: [...new Set(c.spec.secrets.flatMap((s) => s.lengths))],
    secretFingerprints: c.spec.secrets.flatMap((s) => s.fingerprints),
  };
  const [facts, s] = await timed(() =>
    ssh(
      c.ssh,
      `sudo python3 - '${JSON.stringify(args).replace(/'/g, "'\\''")}'`,
      fs.readFileSync(FACTS_SCRIPT, "utf8"),
      300_000,
    ),
  );
  if (facts.code !== 0) {
    results.push({
      name: "facts over the admin path",
      required: true,
      result: "fail",
      detail: (facts.stderr || facts.stdout).split("\n").slice(-2).join(" "),
      seconds: s,
    });
    return { results };
  }
  const parsed = JSON.parse(facts.stdout) as NodeFacts;
  timings.factsSeconds = s;
  for (const [section, seconds] of Object.entries(parsed.seconds ?? {})) timings[`facts.${section}Seconds`] = seconds;
  const evaluated = evaluateFacts(c.spec, parsed);
  evaluated[0]!.seconds = s;
  results.push(...evaluated);
  let ca: string | undefined;
  if (c.spec.internalTls && c.spec.sites.length > 0) {
    const r = await ssh(c.ssh, `sudo cat ${CADDY_ROOT_CA}`);
    ca = r.code === 0 ? r.stdout + "\n" : undefined;
  }
  return { results, ca };
}

// The scan waits on dropped packets and the node checks on the node: they overlap. The HTTPS
// checks need the internal CA the node checks read, so they come after.
async function allChecks(c: Context, o: AcceptOptions, timings: Record<string, number> = {}): Promise<CheckResult[]> {
  const [scans, inside] = await Promise.all([scanChecks(c, o), nodeChecks(c, timings)]);
  const trust = c.spec.internalTls
    ? { ca: inside.ca, label: "internal CA" }
    : o.siteCaFile
      ? { ca: fs.readFileSync(o.siteCaFile, "utf8"), label: `root ${path.basename(o.siteCaFile)}` }
      : {};
  const sites = await siteChecks(c, trust);
  return [...scans, ...sites, ...inside.results];
}

const green = (rs: CheckResult[]) => rs.every((r) => !r.required || r.result !== "fail");

export async function accept(o: AcceptOptions): Promise<AcceptRun> {
  const startedAt = new Date().toISOString();
  const c = await context(o);
  const timings: Record<string, number> = {};
  const [ssh0, sshS] = await timed(() =>
    waitForSsh(c.ssh, 60).then(
      () => true,
      () => false,
    ),
  );
  if (!ssh0)
    throw new UsageError(
      `cannot reach ${c.ssh.user}@${c.ssh.host}:${c.ssh.port} over SSH (admin path ${c.plan.adminPath.mode})`,
    );
  timings.sshSeconds = sshS;
  const [results, s] = await timed(() => allChecks(c, o, timings));
  timings.checksSeconds = s;
  if (o.reboot) {
    const t0 = Date.now();
    await ssh(c.ssh, "sudo systemctl reboot", undefined, 30_000);
    await new Promise((r) => setTimeout(r, 5000));
    let after: CheckResult[] = [];
    let greenAt: number | undefined;
    try {
      timings.rebootToSshSeconds = (await waitForSsh(c.ssh, o.rebootBoundSeconds)) + 5;
      // A round of checks takes a while itself; the node was green when the first all-green
      // round began, and that is what the bound applies to (the round's end is reported too).
      while ((Date.now() - t0) / 1000 < o.rebootBoundSeconds) {
        const roundStart = (Date.now() - t0) / 1000;
        after = await allChecks(c, o);
        if (green(after)) {
          greenAt = roundStart;
          break;
        }
        await new Promise((r) => setTimeout(r, 5000));
      }
    } catch {
      // reported below
    }
    timings.rebootToGreenSeconds = greenAt ?? (Date.now() - t0) / 1000;
    timings.rebootChecksDoneSeconds = (Date.now() - t0) / 1000;
    const ok = greenAt !== undefined && greenAt <= o.rebootBoundSeconds;
    results.push({
      name: `reboot: all checks green within ${o.rebootBoundSeconds} s`,
      required: true,
      result: ok ? "pass" : "fail",
      detail: ok
        ? `SSH after ${timings.rebootToSshSeconds?.toFixed(0)} s; the round that came back all green began at ${greenAt!.toFixed(0)} s and ended at ${timings.rebootChecksDoneSeconds.toFixed(0)} s`
        : `not green within ${o.rebootBoundSeconds} s: ${
            after
              .filter((r) => r.result === "fail")
              // Each failing check with its own detail (names of secrets, never values): after the
              // reboot the node may be gone before anyone reads it.
              .map((r) => `${r.name} (${r.detail})`)
              .join("; ") || "SSH did not come back"
          }`,
      seconds: timings.rebootToGreenSeconds,
    });
  }
  const commit =
    (await execa("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"], { reject: false })).stdout || "unknown";
  const record: AcceptRun = {
    stack: c.plan.stack,
    node: c.node.name,
    commit,
    startedAt,
    results,
    timings,
    passed: green(results),
  };
  fs.mkdirSync(path.dirname(o.historyFile), { recursive: true });
  fs.appendFileSync(o.historyFile, JSON.stringify(record) + "\n");
  return record;
}
