// Pure evaluation of a node's facts against its spec (docs/architecture.md, seed references: seed 000 §9.10, §11.10.3; seed 003).
// Every check names what it saw; a failing check is never downgraded.
import { portOf, SSH_PORT } from "../../infra/catalog/services.js";
import type { AcceptSpec } from "./spec.js";
import type { ScanResult } from "./scan.js";

export type Outcome = "pass" | "fail" | "skip";

export interface CheckResult {
  name: string;
  required: boolean;
  result: Outcome;
  detail: string;
  seconds: number;
}

/** Facts as printed by remote/facts.py. */
export interface NodeFacts {
  collectedAt: number;
  /** Seconds each section of facts.py took, for the run's timings. */
  seconds?: Record<string, number>;
  cloudInit: {
    statusLong: string;
    statusCode: number;
    bootFinished: boolean;
    errors: unknown[] | null;
    /** cloud-init's stages (status.json) that recorded errors; null without status.json */
    stagesWithErrors?: string[] | null;
    /** epoch seconds boot-finished was written */
    bootFinishedAt?: number | null;
  };
  units: Record<string, Record<string, string>>;
  timers: Record<string, Record<string, string>>;
  failedUnits: string[];
  credentials: string[];
  mounts: {
    mountPoint: string;
    mountedAt: string;
    source: string;
    device: string;
    deviceResolved: string | null;
    usedPercent: number | null;
  }[];
  memory: { totalMb: number; availableMb: number; swapUsedMb: number };
  time: { ntpSynchronized: string; ntp: string };
  unattendedUpgrades: { serviceEnabled: string; periodic: string };
  states: Record<string, Record<string, unknown>>;
  nodeB: { name: string | null; references: string[]; routes: { dst?: string; gateway?: string; dev?: string }[] };
  archiver?: {
    ok: boolean;
    error: string;
    lastArchived: number | null;
    lastFailed: number | null;
    failedCount: number | null;
  };
  /** fingerprints: those of the secrets' fingerprints (AcceptSpec.secrets) found on the node */
  /** packagedUnchanged: files skipped because they are exactly as their Debian package shipped them */
  plaintext: { filesScanned: number; packagedUnchanged?: number; fingerprints: string[] };
  journal?: { ok: boolean; lines: number; fingerprints: string[] };
  credentialIsolation?: {
    checked: number;
    readableByNobody: string[];
    crossUnitAttempts: number;
    crossUnitReads: string[];
  };
  /** This boot's first "started" time per unit and the agent units' gate lines (µs since the epoch). */
  startOrder?: {
    ok: boolean;
    firstStarted: Record<string, number>;
    gates: { unit: string; message: string; at: number }[];
  };
  /** Each of the spec's SQL checks, in order: what the query printed, or its error. */
  sql?: { name: string; ok: boolean; output: string; error: string; waitedSeconds?: number }[];
  monitoring?: {
    prometheusError: string;
    targets: { job: string; instance: string; health: string; lastError: string }[];
    alertRules: number | null;
    alertmanagerReady: boolean;
  };
}

const VOLUME_FULL_PERCENT = 80;
const MAX_DRILL_AGE_HOURS = 8 * 24;

function check(name: string, ok: boolean, detail: string, required = true): CheckResult {
  return { name, required, result: ok ? "pass" : "fail", detail, seconds: 0 };
}

const hoursAgo = (now: number, t: unknown) => (typeof t === "number" && t > 0 ? (now - t) / 3600 : Infinity);
const fmtH = (h: number) => (Number.isFinite(h) ? `${h.toFixed(1)} h ago` : "never");

/**
 * First boot is complete when cloud-init finished without errors, or when it failed only in its final
 * stage (where bootstrap runs) and bootstrap later ran again to success: the fix of
 * docs/runbooks/volume-not-attached.md. cloud-init keeps that instance's error until the next boot.
 */
function firstBootCheck(f: NodeFacts): CheckResult {
  const name = "first boot completed (cloud-init, bootstrap)";
  const ci = f.cloudInit;
  if (!ci.bootFinished) return check(name, false, "boot-finished missing");
  const errors = ci.errors ?? ["result.json missing"];
  if (errors.length === 0 && /status: done/.test(ci.statusLong))
    return check(name, true, ci.statusLong.split("\n")[0]!);
  const failed = `cloud-init errors: ${JSON.stringify(errors).slice(0, 200)}`;
  const bootstrap = f.states["bootstrap"];
  const onlyFinal = !!ci.stagesWithErrors?.length && ci.stagesWithErrors.every((s) => s === "modules-final");
  const rerunAt = typeof bootstrap?.finished === "number" ? bootstrap.finished : undefined;
  if (
    onlyFinal &&
    bootstrap?.result === "success" &&
    rerunAt !== undefined &&
    rerunAt >= (ci.bootFinishedAt ?? Infinity)
  )
    return check(
      name,
      true,
      `${failed}; bootstrap ran again and succeeded at ${new Date(rerunAt * 1000).toISOString()}, after first boot ended`,
    );
  return check(name, false, failed);
}

/**
 * Cold start in order (seed 000 §9.11.3), from this boot's journal: each agent unit's command was
 * admitted by its gate once the database accepted the unit's role (after PostgreSQL's first start,
 * on its node); each worker's once the web tier beside it answered, after that web tier was admitted.
 */
function startOrderCheck(spec: AcceptSpec, f: NodeFacts): CheckResult | undefined {
  const o = spec.startOrder;
  if (!o) return undefined;
  const name = "cold start in order: database, web tier, workers";
  const s = f.startOrder;
  if (!s?.ok) return check(name, false, "this boot's journal could not be read");
  const pg = Object.entries(s.firstStarted).find(([u]) => u.startsWith("postgresql@"))?.[1];
  // The first time this boot that a unit's gate opened.
  const opened = (unit: string, says: string) => s.gates.find((g) => g.unit === unit && g.message.includes(says))?.at;
  const agents = [...(o.web ? [o.web] : []), ...o.workers];
  const admitted = new Map(agents.map((u) => [u, opened(u, "the database accepts")]));
  const problems: string[] = [];
  if (spec.postgres && pg === undefined) problems.push("PostgreSQL did not start in this boot");
  for (const [u, at] of admitted) {
    if (at === undefined) problems.push(`${u}: no database gate opened in this boot`);
    else if (pg !== undefined && at < pg) problems.push(`${u} was admitted before PostgreSQL started`);
  }
  const web = o.web ? admitted.get(o.web) : undefined;
  if (o.web)
    for (const w of o.workers) {
      const healthy = opened(w, "is healthy");
      if (healthy === undefined) problems.push(`${w}: no web-tier gate opened in this boot`);
      else if (web === undefined || healthy < web) problems.push(`${w} was admitted before the web tier`);
      else admitted.set(w, Math.max(admitted.get(w) ?? healthy, healthy));
    }
  const times: [string, number | undefined][] = [
    ...(pg !== undefined ? [["postgresql started", pg] as [string, number]] : []),
    ...agents.map((u) => [`${u} admitted`, admitted.get(u)] as [string, number | undefined]),
  ];
  const base = Math.min(...times.flatMap(([, t]) => (t === undefined ? [] : [t])));
  const line = times.map(([u, t]) => (t === undefined ? `${u} -` : `${u} +${((t - base) / 1e6).toFixed(1)} s`));
  return check(name, problems.length === 0, [...problems, line.join(", ")].join("; "));
}

export function evaluateFacts(spec: AcceptSpec, f: NodeFacts): CheckResult[] {
  const out: CheckResult[] = [];
  const now = f.collectedAt;

  out.push(firstBootCheck(f));

  const missingCreds = spec.credentials.filter((c) => !f.credentials.includes(c));
  out.push(
    check(
      "credentials delivered",
      missingCreds.length === 0,
      missingCreds.length
        ? `missing: ${missingCreds.join(", ")} (pulumi up delivers them; docs/secrets.md)`
        : `${spec.credentials.length} present`,
    ),
  );

  const inactive = spec.units
    .filter((u) => f.units[u]?.ActiveState !== "active")
    .map((u) => `${u}=${f.units[u]?.ActiveState ?? "?"}/${f.units[u]?.SubState ?? "?"}`);
  out.push(
    check(
      "declared units active",
      inactive.length === 0,
      inactive.length ? inactive.join(", ") : `${spec.units.length} active`,
    ),
  );
  const order = startOrderCheck(spec, f);
  if (order) out.push(order);

  // A timer whose job is running right now has no next elapse yet (SubState "running").
  const unscheduled = spec.timers.filter(
    (t) =>
      f.timers[t]?.ActiveState !== "active" ||
      (!f.timers[t]?.NextElapseUSecRealtime && f.timers[t]?.SubState !== "running"),
  );
  out.push(
    check(
      "timers scheduled",
      unscheduled.length === 0,
      unscheduled.length ? `not scheduled: ${unscheduled.join(", ")}` : `${spec.timers.length} scheduled`,
    ),
  );

  out.push(
    check(
      "no failed units",
      f.failedUnits.length === 0,
      f.failedUnits.length ? f.failedUnits.join(", ") : "systemctl --failed is empty",
    ),
  );

  for (const m of spec.mounts) {
    const fact = f.mounts.find((x) => x.mountPoint === m.mountPoint);
    const mounted =
      !!fact && fact.mountedAt === m.mountPoint && !!fact.deviceResolved && fact.source === fact.deviceResolved;
    out.push(
      check(
        `volume ${m.mountPoint} mounted from volume ${m.volumeId}`,
        mounted,
        fact ? `source ${fact.source || "none"}, device ${fact.deviceResolved ?? "absent"}` : "no facts",
      ),
    );
    const used = fact?.usedPercent;
    out.push(
      check(
        `volume ${m.mountPoint} below ${VOLUME_FULL_PERCENT} % used`,
        typeof used === "number" && used < VOLUME_FULL_PERCENT,
        `${used ?? "?"} % used`,
      ),
    );
  }

  out.push(
    check(
      "memory headroom",
      f.memory.availableMb >= spec.headroomMb,
      `${f.memory.availableMb} MB available of ${f.memory.totalMb} MB (needs ${spec.headroomMb} MB); swap used ${f.memory.swapUsedMb} MB`,
    ),
  );
  out.push(
    check(
      "time synchronized",
      f.time.ntpSynchronized === "yes",
      `NTPSynchronized=${f.time.ntpSynchronized || "?"} NTP=${f.time.ntp || "?"}`,
    ),
  );
  out.push(
    check(
      "unattended security upgrades enabled",
      f.unattendedUpgrades.serviceEnabled === "enabled" && /"1"/.test(f.unattendedUpgrades.periodic),
      `service ${f.unattendedUpgrades.serviceEnabled}, ${f.unattendedUpgrades.periodic || "no APT::Periodic setting"}`,
    ),
  );

  const lastSuccess = (job: string) =>
    typeof f.states[job]?.lastSuccess === "number" ? (f.states[job]!.lastSuccess as number) : 0;
  const has = (job: string) => spec.jobs.some((j) => j.job === job);
  const bound = (job: string) => spec.jobs.find((j) => j.job === job)!.maxAgeHours;
  if (has("pgbackrest-full")) {
    const newest = Math.max(lastSuccess("pgbackrest-full"), lastSuccess("pgbackrest-diff"));
    const limit = has("pgbackrest-diff") ? bound("pgbackrest-diff") : bound("pgbackrest-full");
    out.push(
      check(
        `newest pgBackRest backup within ${limit} h`,
        hoursAgo(now, newest) <= limit,
        `newest full or differential ${fmtH(hoursAgo(now, newest))}`,
      ),
    );
  }
  for (const job of ["pgbackrest-check", "pgdump", "files"].filter(has)) {
    const age = hoursAgo(now, lastSuccess(job));
    const label =
      job === "pgbackrest-check"
        ? "WAL archive check (pgbackrest check)"
        : job === "pgdump"
          ? "newest pg_dump snapshot (restic)"
          : "newest file snapshot (restic)";
    out.push(check(`${label} within ${bound(job)} h`, age <= bound(job), `last success ${fmtH(age)}`));
  }
  const failedLast = spec.jobs.map((j) => j.job).filter((job) => f.states[job]?.result === "failure");
  const ran = spec.jobs.filter((j) => f.states[j.job]).length;
  out.push(
    check(
      "last run of every backup job succeeded",
      failedLast.length === 0,
      failedLast.length
        ? failedLast.map((j) => `${j}: ${String(f.states[j]!.detail ?? "").slice(0, 120)}`).join("; ")
        : `${ran} of ${spec.jobs.length} jobs have run; none failed`,
    ),
  );
  if (spec.jobs.some((j) => j.job.startsWith("pgbackrest")) && f.archiver) {
    const a = f.archiver;
    const ok = a.ok && (a.lastArchived ?? 0) > 0 && (a.lastFailed ?? 0) <= (a.lastArchived ?? 0);
    out.push(
      check(
        "WAL archiving works",
        ok,
        a.ok
          ? `last archived ${fmtH(hoursAgo(now, a.lastArchived))}, last failure ${fmtH(hoursAgo(now, a.lastFailed))}, failures ${a.failedCount}`
          : a.error,
      ),
    );
  }
  for (const c of spec.sqlChecks) {
    const got = f.sql?.find((r) => r.name === c.name);
    out.push(
      check(
        c.name,
        !!got && got.ok && got.output === c.expect,
        !got
          ? "not run on the node"
          : got.ok
            ? `${c.database}: printed ${JSON.stringify(got.output)}, expected ${JSON.stringify(c.expect)}${c.waitSeconds && got.waitedSeconds ? ` (after ${got.waitedSeconds} s)` : ""}`
            : `${c.database}: ${got.error}`,
      ),
    );
  }
  if (spec.jobs.some((j) => j.job === "restore-drill")) {
    const d = f.states["restore-drill-result"];
    const age = d ? (now - Date.parse(String(d.drillDate)) / 1000) / 3600 : Infinity;
    out.push(
      check(
        `restore drill passed within ${MAX_DRILL_AGE_HOURS / 24} days`,
        // A pass that compared no table proves nothing (a drill from before manifests existed).
        !!d && d.result === "pass" && Number(d.tablesVerified) > 0 && age <= MAX_DRILL_AGE_HOURS,
        d
          ? `${d.result} ${fmtH(age)}, backup ${d.backupId}, ${String(d.tablesVerified ?? 0)} tables verified, ${d.durationSeconds} s`
          : "no drill recorded",
      ),
    );
  }

  if (spec.monitoring) {
    const m = f.monitoring;
    const down = (m?.targets ?? [])
      .filter((t) => t.health !== "up")
      .map((t) => `${t.job} ${t.instance}: ${t.health}${t.lastError ? ` (${t.lastError.slice(0, 80)})` : ""}`);
    const jobs = new Set((m?.targets ?? []).map((t) => t.job));
    const absent = spec.monitoring.jobs.filter((j) => !jobs.has(j));
    out.push(
      check(
        "monitoring: every scrape target up",
        !!m && !m.prometheusError && down.length === 0 && absent.length === 0,
        !m
          ? "no monitoring facts"
          : m.prometheusError
            ? `Prometheus API: ${m.prometheusError}`
            : [...down, ...absent.map((j) => `job ${j} has no target`)].join("; ") ||
              `${m.targets.length} targets up in ${jobs.size} jobs`,
      ),
    );
    out.push(
      check(
        "monitoring: alert rules loaded, Alertmanager ready",
        !!m && m.alertRules === spec.monitoring.alertRules && m.alertmanagerReady,
        m
          ? `${m.alertRules ?? "?"} of ${spec.monitoring.alertRules} alert rules; Alertmanager ${m.alertmanagerReady ? "ready" : "not ready"}`
          : "no monitoring facts",
      ),
    );
  }

  const leaked = spec.secrets
    .filter((s) => s.fingerprints.some((fp) => f.plaintext.fingerprints.includes(fp)))
    .map((s) => s.name);
  out.push(
    check(
      "no plaintext secret on disk",
      leaked.length === 0,
      leaked.length
        ? `found: ${leaked.join(", ")}`
        : `${spec.secrets.length} secrets checked against ${f.plaintext.filesScanned} files${f.plaintext.packagedUnchanged ? ` (and ${f.plaintext.packagedUnchanged} left as their packages shipped them)` : ""}`,
      spec.secrets.length > 0,
    ),
  );
  if (spec.secrets.length === 0) out[out.length - 1]!.result = "skip";

  const logged = spec.secrets
    .filter((s) => s.fingerprints.some((fp) => f.journal?.fingerprints.includes(fp)))
    .map((s) => s.name);
  out.push(
    check(
      "no secret in this boot's journal",
      !!f.journal?.ok && logged.length === 0,
      !f.journal?.ok
        ? "journalctl failed"
        : logged.length
          ? `logged: ${logged.join(", ")}`
          : `${spec.secrets.length} secrets checked against ${f.journal.lines} lines`,
      spec.secrets.length > 0,
    ),
  );
  if (spec.secrets.length === 0) out[out.length - 1]!.result = "skip";

  if (spec.credentials.length > 0) {
    const iso = f.credentialIsolation;
    out.push(
      check(
        "credentials unreadable without a grant",
        !!iso &&
          iso.checked >= spec.credentials.length &&
          iso.readableByNobody.length === 0 &&
          iso.crossUnitAttempts > 0 &&
          iso.crossUnitReads.length === 0,
        !iso
          ? "no facts"
          : iso.readableByNobody.length || iso.crossUnitReads.length
            ? `readable without a grant: ${[...iso.readableByNobody, ...iso.crossUnitReads].join(", ")}`
            : `${iso.checked} credential files refused to user nobody; ${iso.crossUnitAttempts} reads of other units' credentials refused inside each running unit`,
      ),
    );
  }

  const nb = spec.nodeB;
  const viaB = f.nodeB.routes.filter((r) => nb && [r.dst, r.gateway].some((x) => x && x.includes(nb)));
  out.push(
    check(
      "no dependency on Node B (operator workstation)",
      f.nodeB.references.length === 0 && viaB.length === 0,
      f.nodeB.references.length || viaB.length
        ? `references: ${[...f.nodeB.references, ...viaB.map((r) => `route ${r.dst}`)].join(", ")}`
        : nb
          ? `no unit, mount, config or route names ${nb}`
          : "no Node B configured",
    ),
  );
  return out;
}

/**
 * The scan's verdicts: exactly the class-A TCP ports open, SSH and PostgreSQL not among them. An
 * unreliable scan lost answers from open ports, so a port it saw silent may be open: nothing passes
 * (what it did see open is still reported). `how` (e.g. "1 sweep, 250 ms per port") ends the detail.
 */
export function evaluateScan(
  family: string,
  expected: number[],
  scan: Pick<ScanResult, "open" | "reliable"> & Partial<Pick<ScanResult, "canary">>,
  seconds: number,
  how?: string,
): CheckResult[] {
  const { open, reliable } = scan;
  const extra = open.filter((p) => !expected.includes(p));
  const missing = expected.filter((p) => !open.includes(p));
  const found = reliable
    ? `open ${open.join(",") || "none"}; expected ${expected.join(",")}${extra.length ? `; unexpected ${extra.join(",")}` : ""}${missing.length ? `; missing ${missing.join(",")}` : ""}`
    : `unreliable: ${scan.canary?.missed ?? "?"} of ${scan.canary?.probes ?? "?"} probes to known-open ports went unanswered even at the lowest concurrency (a full connection-tracking table or NAT on the scanning side, or a lossy path); scan from a host without NAT or a stateful firewall; open ${open.join(",") || "none"}`;
  const closed = (port: number): Pick<CheckResult, "result" | "detail"> =>
    open.includes(port)
      ? { result: "fail", detail: `port ${port} open` }
      : reliable
        ? { result: "pass", detail: `port ${port} closed` }
        : { result: "fail", detail: `port ${port} not proven closed (scan unreliable)` };
  return [
    {
      name: `${family} scan: exactly the class-A ports open`,
      required: true,
      result: reliable && extra.length === 0 && missing.length === 0 ? "pass" : "fail",
      detail: found + (how ? ` (${how})` : ""),
      seconds,
    },
    { name: `${family}: SSH not reachable publicly`, required: true, ...closed(SSH_PORT), seconds: 0 },
    {
      name: `${family}: PostgreSQL not reachable publicly`,
      required: true,
      ...closed(portOf("postgresql", "postgres-private")),
      seconds: 0,
    },
  ];
}
