// The acceptance tool itself: pure verdicts on recorded facts, a real TCP scan and real HTTPS
// probes on loopback. (The VM proof runs it against a real node.)
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as dgram from "node:dgram";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateFacts, evaluateScan, type NodeFacts } from "../../../scripts/accept/checks.js";
import { checkSite } from "../../../scripts/accept/https.js";
import { testCertificate } from "../../support/tls.js";
import { timingsLine } from "../../../scripts/accept/report.js";
import { scanTcp } from "../../../scripts/accept/scan.js";
import { checkQuic, parseVersionNegotiation, quicProbe, scanUdp } from "../../../scripts/accept/udp.js";
import { buildSpec, secretForms, sha256 } from "../../../scripts/accept/spec.js";
import { planOf, ROOT } from "../../support/helpers.js";
import { splitHostPort } from "../../../scripts/lib/cli.js";

const TSX = path.join(ROOT, "node_modules/.bin/tsx");

const plan = planOf("tst");
const node = plan.nodes[0]!;
const spec = buildSpec(
  plan,
  node,
  { publicIpv4: "203.0.113.10", volumeIds: { pgdata: "101", artifacts: "102" } },
  { "xiopro-infra:resticPassword": "correct-horse-battery-staple-42" },
);
const NOW = 1_800_000_000;

function healthy(): NodeFacts {
  const state = (job: string) => ({ job, result: "success", lastSuccess: NOW - 3600, detail: "" });
  return {
    collectedAt: NOW,
    cloudInit: {
      statusLong: "status: done\nboot_status_code: enabled-by-generator",
      statusCode: 0,
      bootFinished: true,
      errors: [],
    },
    units: Object.fromEntries(spec.units.map((u) => [u, { ActiveState: "active", SubState: "running" }])),
    timers: Object.fromEntries(
      spec.timers.map((t) => [t, { ActiveState: "active", NextElapseUSecRealtime: "Sun 2027-01-17 01:30:00 UTC" }]),
    ),
    failedUnits: [],
    credentials: [...spec.credentials],
    mounts: spec.mounts.map((m, i) => ({
      mountPoint: m.mountPoint,
      mountedAt: m.mountPoint,
      source: `/dev/sd${"bc"[i]}`,
      device: `/dev/disk/by-id/scsi-0HC_Volume_${m.volumeId}`,
      deviceResolved: `/dev/sd${"bc"[i]}`,
      usedPercent: 12.5,
    })),
    memory: { totalMb: 3800, availableMb: 2500, swapUsedMb: 0 },
    time: { ntpSynchronized: "yes", ntp: "yes" },
    unattendedUpgrades: { serviceEnabled: "enabled", periodic: 'APT::Periodic::Unattended-Upgrade "1";' },
    states: {
      ...Object.fromEntries(spec.jobs.map((j) => [j.job, state(j.job)])),
      "restore-drill-result": {
        result: "pass",
        drillDate: new Date((NOW - 7200) * 1000).toISOString(),
        backupId: "20270101-013000F",
        tablesVerified: 12,
        durationSeconds: 42,
      },
    },
    nodeB: { name: "mac-studio", references: [], routes: [{ dst: "default", gateway: "172.31.1.1", dev: "eth0" }] },
    archiver: { ok: true, error: "", lastArchived: NOW - 30, lastFailed: 0, failedCount: 0 },
    plaintext: { filesScanned: 812, fingerprints: [sha256("something-else-entirely")] },
    journal: { ok: true, lines: 5000, fingerprints: [sha256("a-logged-token")] },
    credentialIsolation: { checked: 25, readableByNobody: [], crossUnitAttempts: 120, crossUnitReads: [] },
    monitoring: {
      prometheusError: "",
      targets: spec.monitoring!.jobs.map((job) => ({ job, instance: `${job}-1`, health: "up", lastError: "" })),
      alertRules: spec.monitoring!.alertRules,
      alertmanagerReady: true,
    },
    startOrder: coldStart(),
  };
}

/** A cold start in order (µs): PostgreSQL, the web tier admitted by its gate, then each worker by both of its gates. */
function coldStart(): NonNullable<NodeFacts["startOrder"]> {
  const t0 = (NOW - 600) * 1e6;
  const s = (seconds: number) => t0 + seconds * 1e6;
  const o = spec.startOrder!;
  return {
    ok: true,
    firstStarted: {
      "postgresql@17-main.service": s(0),
      [o.web!]: s(1),
      ...Object.fromEntries(o.workers.map((w) => [w, s(1)])),
    },
    gates: [
      { unit: o.web!, message: "agentd-exec: the database accepts xiopro_api (after 3 s)", at: s(4) },
      ...o.workers.flatMap((w) => [
        { unit: w, message: "agentd-exec: the database accepts xiopro_worker (after 3 s)", at: s(4) },
        { unit: w, message: "agentd-exec: http://127.0.0.1:8000/healthz is healthy (after 3 s)", at: s(7) },
      ]),
    ],
  };
}

/** cloud-init failed in STAGE (boot-finished an hour ago); bootstrap succeeded RERUN seconds after it. */
function failedFirstBoot(f: NodeFacts, stage: string, rerun: number) {
  const finishedAt = NOW - 3600;
  f.cloudInit = {
    statusLong: "status: error\nboot_status_code: enabled-by-generator",
    statusCode: 1,
    bootFinished: true,
    errors: ["('scripts_user', RuntimeError('Runparts: 1 failures (runcmd) in 1 attempted commands'))"],
    stagesWithErrors: [stage],
    bootFinishedAt: finishedAt,
  };
  f.states["bootstrap"] = { job: "bootstrap", finished: finishedAt + rerun, durationSeconds: 140, result: "success" };
}

const failing = (f: NodeFacts) =>
  evaluateFacts(spec, f)
    .filter((r) => r.result === "fail")
    .map((r) => r.name);

describe("acceptance verdicts on facts", () => {
  it("accepts a healthy node: every check passes", () => {
    const rs = evaluateFacts(spec, healthy());
    expect(rs.filter((r) => r.result !== "pass")).toEqual([]);
    expect(rs.length).toBeGreaterThanOrEqual(20);
  });

  it("counts a timer whose job is running right now as scheduled", () => {
    const f = healthy();
    f.timers["agentd-sweeper.timer"] = { ActiveState: "active", SubState: "running", NextElapseUSecRealtime: "" };
    expect(failing(f)).toEqual([]);
  });

  it("accepts a fresh node whose weekly and nightly jobs have not run yet, after its first backups", () => {
    const f = healthy();
    delete f.states["pgbackrest-diff"];
    delete f.states["restic-check"];
    expect(failing(f)).toEqual([]);
  });

  it("derives the expected units, timers, credentials and jobs from the plan", () => {
    expect(spec.units).toContain("agentd-worker@1.service");
    expect(spec.timers).toContain("xiopro-restore-drill.timer");
    expect(spec.credentials).toEqual([
      "pg-role-api",
      "pg-role-worker",
      "pg-role-backup",
      "pg-role-readonly",
      "grafana-admin-password",
      "restic-password",
      "pgbackrest-cipher-pass",
      "repo-s3-access-key",
      "repo-s3-secret-key",
    ]);
    expect(spec.monitoring!.jobs).toEqual([
      "node",
      "caddy",
      "postgres",
      "prometheus",
      "alertmanager",
      "blackbox",
      "sites",
    ]);
    expect(spec.expectTcpOpen).toEqual([80, 443]);
  });

  it.each([
    [
      "first boot completed (cloud-init, bootstrap)",
      (f: NodeFacts) => (f.cloudInit.errors = ["modules-final: package install failed"]),
    ],
    ["first boot completed (cloud-init, bootstrap)", (f: NodeFacts) => (f.cloudInit.bootFinished = false)],
    // Failed in the final stage, and bootstrap's success is the first boot's own (before boot-finished).
    ["first boot completed (cloud-init, bootstrap)", (f: NodeFacts) => failedFirstBoot(f, "modules-final", -60)],
    // Bootstrap ran again, but cloud-init failed before bootstrap's stage: not the runbook's case.
    ["first boot completed (cloud-init, bootstrap)", (f: NodeFacts) => failedFirstBoot(f, "init", 600)],
    ["credentials delivered", (f: NodeFacts) => (f.credentials = f.credentials.slice(1))],
    [
      "declared units active",
      (f: NodeFacts) => (f.units["agentd-web.service"] = { ActiveState: "activating", SubState: "auto-restart" }),
    ],
    [
      "timers scheduled",
      (f: NodeFacts) => (f.timers["xiopro-pgdump.timer"] = { ActiveState: "inactive", NextElapseUSecRealtime: "" }),
    ],
    ["no failed units", (f: NodeFacts) => (f.failedUnits = ["xiopro-pgdump.service"])],
    ["volume /var/lib/postgresql mounted from volume 101", (f: NodeFacts) => (f.mounts[0]!.source = "/dev/vda1")],
    ["volume /srv/agentd below 80 % used", (f: NodeFacts) => (f.mounts[1]!.usedPercent = 81)],
    ["memory headroom", (f: NodeFacts) => (f.memory.availableMb = 100)],
    ["time synchronized", (f: NodeFacts) => (f.time.ntpSynchronized = "no")],
    ["unattended security upgrades enabled", (f: NodeFacts) => (f.unattendedUpgrades.serviceEnabled = "disabled")],
    [
      "newest pgBackRest backup within 26 h",
      (f: NodeFacts) => {
        f.states["pgbackrest-diff"]!.lastSuccess = NOW - 27 * 3600;
        f.states["pgbackrest-full"]!.lastSuccess = NOW - 30 * 3600;
      },
    ],
    ["newest pg_dump snapshot (restic) within 26 h", (f: NodeFacts) => delete f.states["pgdump"]],
    [
      "last run of every backup job succeeded",
      (f: NodeFacts) =>
        Object.assign(f.states["restic-check"]!, { result: "failure", detail: "Fatal: repository contains errors" }),
    ],
    [
      "WAL archiving works",
      (f: NodeFacts) =>
        (f.archiver = { ok: true, error: "", lastArchived: NOW - 600, lastFailed: NOW - 60, failedCount: 3 }),
    ],
    ["restore drill passed within 8 days", (f: NodeFacts) => (f.states["restore-drill-result"]!.result = "fail")],
    ["restore drill passed within 8 days", (f: NodeFacts) => delete f.states["restore-drill-result"]!.tablesVerified],
    [
      "no plaintext secret on disk",
      (f: NodeFacts) => f.plaintext.fingerprints.push(sha256(secretForms("correct-horse-battery-staple-42")[1]!)),
    ],
    [
      "no dependency on Node B (operator workstation)",
      (f: NodeFacts) => (f.nodeB.references = ["/etc/systemd/system/sync.mount"]),
    ],
    [
      "no secret in this boot's journal",
      (f: NodeFacts) => f.journal!.fingerprints.push(sha256("correct-horse-battery-staple-42")),
    ],
    [
      "credentials unreadable without a grant",
      (f: NodeFacts) =>
        (f.credentialIsolation!.readableByNobody = ["/run/credentials/agentd-web.service/DATABASE_PASSWORD"]),
    ],
    [
      "credentials unreadable without a grant",
      (f: NodeFacts) =>
        (f.credentialIsolation!.crossUnitReads = [
          "agentd-worker@1.service reads /run/credentials/agentd-web.service/DATABASE_PASSWORD",
        ]),
    ],
    ["monitoring: every scrape target up", (f: NodeFacts) => (f.monitoring!.targets[2]!.health = "down")],
    [
      "monitoring: every scrape target up",
      (f: NodeFacts) => (f.monitoring!.targets = f.monitoring!.targets.filter((t) => t.job !== "sites")),
    ],
    ["monitoring: alert rules loaded, Alertmanager ready", (f: NodeFacts) => (f.monitoring!.alertmanagerReady = false)],
    ["monitoring: alert rules loaded, Alertmanager ready", (f: NodeFacts) => (f.monitoring!.alertRules = 3)],
  ])("fails exactly %s when that fact is wrong", (name, breakIt) => {
    const f = healthy();
    breakIt(f);
    expect(failing(f)).toEqual([name]);
  });

  it("counts a first boot whose bootstrap failed and later ran again to success as complete, and says so", () => {
    const f = healthy();
    failedFirstBoot(f, "modules-final", 600);
    expect(failing(f)).toEqual([]);
    const r = evaluateFacts(spec, f).find((c) => c.name === "first boot completed (cloud-init, bootstrap)")!;
    expect(r.detail).toMatch(
      /^cloud-init errors: .*Runparts.*; bootstrap ran again and succeeded at \S+Z, after first boot ended$/,
    );
  });

  it("with a synchronous WAL receiver, the database node (only) checks it streaming in sync through a kept slot", () => {
    const withReceiver = planOf("tst", (c) => {
      c.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] };
      c["wal-receiver"] = { synchronous: true };
    });
    const dbSpec = buildSpec(
      withReceiver,
      withReceiver.nodes[0]!,
      { publicIpv4: "203.0.113.10", volumeIds: { pgdata: "101", artifacts: "102" } },
      {},
    );
    expect(dbSpec.sqlChecks.map((c) => [c.name, c.database, c.expect, c.waitSeconds])).toEqual([
      ["WAL receiver streaming (synchronous)", "postgres", "streaming sync, slot kept", 30],
    ]);
    expect(buildSpec(withReceiver, withReceiver.nodes[1]!, { volumeIds: {} }, {}).sqlChecks).toEqual([]);
    const verdict = (output: string) =>
      evaluateFacts(dbSpec, {
        ...healthy(),
        sql: [{ name: "WAL receiver streaming (synchronous)", ok: true, output, error: "", waitedSeconds: 30 }],
      }).find((r) => r.name.startsWith("WAL receiver"))!;
    expect(verdict("streaming sync, slot kept").result).toBe("pass");
    expect(verdict("streaming async, slot kept").result).toBe("fail");
    expect(verdict("not connected, slot lost")).toMatchObject({
      result: "fail",
      detail: 'postgres: printed "not connected, slot lost", expected "streaming sync, slot kept" (after 30 s)',
    });
  });

  it("a service's SQL check passes only on exactly the expected line", () => {
    const withCheck = {
      ...spec,
      sqlChecks: [{ name: "extension x installed", database: "xiopro", sql: "SELECT 1", expect: "x" }],
    };
    const verdict = (sql: NodeFacts["sql"]) =>
      evaluateFacts(withCheck, { ...healthy(), sql }).find((r) => r.name === "extension x installed")!;
    expect(verdict([{ name: "extension x installed", ok: true, output: "x", error: "" }]).result).toBe("pass");
    // A check that does not wait names no wait, whatever its query took.
    expect(
      verdict([{ name: "extension x installed", ok: true, output: "", error: "", waitedSeconds: 0.7 }]),
    ).toMatchObject({
      result: "fail",
      detail: 'xiopro: printed "", expected "x"',
    });
    expect(
      verdict([{ name: "extension x installed", ok: false, output: "", error: 'database "xiopro" does not exist' }]),
    ).toMatchObject({ result: "fail", detail: 'xiopro: database "xiopro" does not exist' });
    expect(verdict(undefined)).toMatchObject({ result: "fail", detail: "not run on the node" });
    expect(spec.sqlChecks).toEqual([]);
  });

  it("checks the cold start's order from the journal: database, web tier, workers, each behind its gate", () => {
    const verdict = (edit: (o: NonNullable<NodeFacts["startOrder"]>) => void) => {
      const f = healthy();
      edit(f.startOrder!);
      return evaluateFacts(spec, f).find((r) => r.name === "cold start in order: database, web tier, workers")!;
    };
    const [worker] = spec.startOrder!.workers;
    expect(spec.startOrder).toEqual({ web: "agentd-web.service", workers: ["agentd-worker@1.service"] });
    expect(verdict(() => {})).toMatchObject({
      result: "pass",
      detail: "postgresql started +0.0 s, agentd-web.service admitted +4.0 s, agentd-worker@1.service admitted +7.0 s",
    });
    // A worker admitted before the web tier, and one with no web-tier gate at all (as before the gates).
    const health = (o: NonNullable<NodeFacts["startOrder"]>) => o.gates.find((g) => g.message.includes("is healthy"))!;
    expect(verdict((o) => (health(o).at = o.gates[0]!.at - 1e6)).detail).toMatch(
      /^agentd-worker@1\.service was admitted before the web tier; postgresql/,
    );
    expect(verdict((o) => (o.gates = o.gates.filter((g) => g !== health(o)))).detail).toMatch(
      /^agentd-worker@1\.service: no web-tier gate opened in this boot/,
    );
    // The web tier admitted before PostgreSQL started, and PostgreSQL missing from this boot.
    expect(verdict((o) => (o.gates[0]!.at = o.firstStarted["postgresql@17-main.service"]! - 1e6)).detail).toMatch(
      /^agentd-web\.service was admitted before PostgreSQL started/,
    );
    expect(verdict((o) => delete o.firstStarted["postgresql@17-main.service"]).detail).toMatch(
      /^PostgreSQL did not start in this boot/,
    );
    expect(verdict((o) => (o.gates = o.gates.filter((g) => g.unit !== worker))).result).toBe("fail");
    expect(verdict((o) => (o.ok = false))).toMatchObject({
      result: "fail",
      detail: "this boot's journal could not be read",
    });
  });

  it("scan verdict: exactly the class-A ports, and names SSH or PostgreSQL when public", () => {
    expect(evaluateScan("IPv4", [80, 443], { open: [80, 443], reliable: true }, 1).map((r) => r.result)).toEqual([
      "pass",
      "pass",
      "pass",
    ]);
    const bad = evaluateScan("IPv4", [80, 443], { open: [22, 443, 5432], reliable: true }, 1, "1 sweep");
    expect(bad.map((r) => r.result)).toEqual(["fail", "fail", "fail"]);
    expect(bad[0]!.detail).toBe("open 22,443,5432; expected 80,443; unexpected 22,5432; missing 80 (1 sweep)");
  });

  it("scan verdict: a sweep that lost probes to open ports proves nothing closed", () => {
    const r = evaluateScan(
      "IPv4",
      [80, 443],
      { open: [80, 443], reliable: false, canary: { probes: 255, missed: 17, slowdowns: 4 } },
      1,
    );
    expect(r.map((x) => x.result)).toEqual(["fail", "fail", "fail"]);
    expect(r[0]!.detail).toMatch(/^unreliable: 17 of 255 probes to known-open ports went unanswered/);
    expect(r[1]!.detail).toBe("port 22 not proven closed (scan unreliable)");
  });

  it("reports the run's timings with only the three slowest sections of the facts", () => {
    const line = timingsLine(
      {
        sshSeconds: 1.04,
        checksSeconds: 11,
        "facts.cloudInitSeconds": 2.5,
        "facts.unitsSeconds": 0.2,
        "facts.journalSeconds": 0.9,
        "facts.monitoringSeconds": 1.1,
      },
      " s",
    );
    expect(line).toBe(
      "sshSeconds 1.0 s, checksSeconds 11.0 s, slowest facts: cloudInit 2.5 s, monitoring 1.1 s, journal 0.9 s",
    );
    expect(timingsLine({ sshSeconds: 2 })).toBe("sshSeconds 2.0");
  });

  it("parses --target forms and rejects ambiguous ones", () => {
    expect(splitHostPort("203.0.113.10")).toEqual(["203.0.113.10", 22]);
    expect(splitHostPort("node:2222")).toEqual(["node", 2222]);
    expect(splitHostPort("[2001:db8::1]:22")).toEqual(["2001:db8::1", 22]);
    expect(() => splitHostPort("2001:db8::1")).toThrow(/host\[:port\]/);
  });
});

describe("npm run accept --stack", () => {
  it("asks Pulumi for the stack's outputs (pulumi stack output --json) and says what to do when it cannot", () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "accept-pulumi-"));
    // Answers only the expected call, like a CLI that is not logged in; any other call exits 9.
    fs.writeFileSync(
      path.join(bin, "pulumi"),
      `#!/bin/sh
[ "$*" = "stack output --json --stack tst" ] || { echo "unexpected: $*" >&2; exit 9; }
echo "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions" >&2
exit 255
`,
      { mode: 0o755 },
    );
    const r = spawnSync(
      TSX,
      [path.join(ROOT, "scripts/accept/cli.ts"), "--stack", "tst", "--history", path.join(bin, "history.jsonl")],
      { encoding: "utf8", timeout: 60_000, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } },
    );
    expect(r.stderr.trim()).toBe(
      "pulumi stack output failed: error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions; pass --outputs FILE or check 'pulumi login'",
    );
    expect(r.status).toBe(1);
    // Nothing was checked, so nothing is recorded.
    expect(fs.existsSync(path.join(bin, "history.jsonl"))).toBe(false);
    fs.rmSync(bin, { recursive: true, force: true });
  });
});

describe("scan and HTTPS probes on loopback", () => {
  const servers: net.Server[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "accept-tls-"));
  let httpsPort = 0;
  let httpPort = 0;
  /** HTTPS/1.1 only, no Alt-Svc: what an ingress without HTTP/2 and HTTP/3 looks like. */
  let h1OnlyPort = 0;
  let ca = "";

  beforeAll(async () => {
    const made = testCertificate(dir, "app.test.example");
    ca = made.ca;
    const keys = { key: made.key, cert: made.cert };
    // Like Caddy: HTTP/2 and HTTP/1.1 on one port, HTTP/3 advertised for the same port.
    const tls = http2.createSecureServer({ ...keys, allowHTTP1: true }, (req, res) => {
      res
        .writeHead(req.url === "/" ? 200 : 404, {
          "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
          "Alt-Svc": `h3=":${httpsPort}"; ma=2592000`,
        })
        .end("ok");
    });
    const h1Only = https.createServer(keys, (req, res) =>
      res.writeHead(200, { "Strict-Transport-Security": "max-age=31536000" }).end("ok"),
    );
    const plain = http.createServer((req, res) =>
      res.writeHead(308, { location: `https://${req.headers.host}${req.url}` }).end(),
    );
    for (const s of [tls, plain, h1Only]) {
      await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
      servers.push(s as net.Server);
    }
    httpsPort = (tls.address() as net.AddressInfo).port;
    httpPort = (plain.address() as net.AddressInfo).port;
    h1OnlyPort = (h1Only.address() as net.AddressInfo).port;
  });

  afterAll(() => {
    servers.forEach((s) => s.close());
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("finds exactly the listening ports in a scanned range", async () => {
    const lo = Math.min(httpsPort, httpPort) - 50;
    const ports = Array.from({ length: Math.max(httpsPort, httpPort) - lo + 50 }, (_, i) => lo + i).filter(
      (p) => p > 0 && p < 65536,
    );
    const { open } = await scanTcp("127.0.0.1", { ports, concurrency: 64, timeoutMs: 500 });
    expect(open.filter((p) => p === httpsPort || p === httpPort)).toEqual([httpsPort, httpPort].sort((a, b) => a - b));
  });

  it("accepts a site with a chain to the given CA and HSTS, and fails it without that CA", async () => {
    const ports = { https: httpsPort, http: httpPort };
    const viaCa = await checkSite("127.0.0.1", "app.test.example", { ca, label: "internal CA" }, ports);
    expect(viaCa.map((r) => [r.name, r.result])).toEqual([
      ["https app.test.example: valid certificate (internal CA)", "pass"],
      ["https app.test.example: HSTS", "pass"],
      ["https app.test.example: upstream answers", "pass"],
      ["https app.test.example: HTTP/2", "pass"],
      ["https app.test.example: HTTP/3 advertised", "pass"],
      ["http app.test.example: redirects to https", "pass"],
    ]);
    const noCa = await checkSite("127.0.0.1", "app.test.example", {}, ports);
    expect(noCa[0]!.result).toBe("fail");
    expect(noCa[0]!.detail).toMatch(/self[- ]signed|unable to (get|verify)/i);
    expect(noCa.find((r) => r.name.endsWith("HTTP/2"))!.result).toBe("fail");
    const wrongName = await checkSite("127.0.0.1", "other.test.example", { ca }, ports);
    expect(wrongName[0]!.result).toBe("fail");
  });

  it("fails HTTP/2 and HTTP/3 on an ingress that speaks only HTTP/1.1", async () => {
    const only = await checkSite("127.0.0.1", "app.test.example", { ca }, { https: h1OnlyPort, http: httpPort });
    const by = (suffix: string) => only.find((r) => r.name.endsWith(suffix))!;
    expect(by("valid certificate").result).toBe("pass");
    expect(by("HTTP/2")).toMatchObject({ result: "fail" });
    expect(by("HTTP/2").detail).toMatch(/ALPN|protocol/i);
    expect(by("HTTP/3 advertised")).toMatchObject({ result: "fail", detail: "no Alt-Svc header" });
  });
});

describe("UDP probes on loopback", () => {
  /** A UDP server that answers each datagram with reply(datagram), or stays silent on undefined. */
  async function udpServer(reply: (msg: Buffer) => Buffer | undefined): Promise<{ port: number; close: () => void }> {
    const s = dgram.createSocket("udp4");
    s.on("message", (msg, from) => {
      const r = reply(msg);
      if (r) s.send(r, from.port, from.address);
    });
    await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
    return { port: s.address().port, close: () => s.close() };
  }
  /** A QUIC server's Version Negotiation (RFC 9000 §17.2.1) for a long-header packet. */
  function negotiate(msg: Buffer, versions: number[], swapIds = true): Buffer {
    const dlen = msg[5]!;
    const dcid = msg.subarray(6, 6 + dlen);
    const scid = msg.subarray(7 + dlen, 7 + dlen + msg[6 + dlen]!);
    const [first, second] = swapIds ? [scid, dcid] : [dcid, scid];
    const v = Buffer.alloc(4 * versions.length);
    versions.forEach((x, i) => v.writeUInt32BE(x, 4 * i));
    return Buffer.concat([
      Buffer.from([0x80, 0, 0, 0, 0, first.length]),
      first,
      Buffer.from([second.length]),
      second,
      v,
    ]);
  }

  it("builds a 1200-byte long-header probe with a reserved version", () => {
    const p = quicProbe(Buffer.alloc(8, 1), Buffer.alloc(8, 2));
    expect(p.length).toBe(1200);
    expect(p[0]! & 0x80).toBe(0x80);
    expect(p.readUInt32BE(1) & 0x0f0f0f0f).toBe(0x0a0a0a0a);
  });

  it("passes a QUIC v1 server, and fails silence, a wrong echo and a server without v1", async () => {
    const good = await udpServer((m) => negotiate(m, [0x00000001, 0x6b3343cf]));
    const silent = await udpServer(() => undefined);
    const badEcho = await udpServer((m) => negotiate(m, [1], false));
    const noV1 = await udpServer((m) => negotiate(m, [0xff00001d]));
    try {
      expect(await checkQuic("127.0.0.1", good.port)).toMatchObject({
        result: "pass",
        detail: "Version Negotiation offers 0x00000001, 0x6b3343cf",
      });
      expect(await checkQuic("127.0.0.1", silent.port)).toMatchObject({
        result: "fail",
        detail: expect.stringMatching(/no answer/),
      });
      expect(await checkQuic("127.0.0.1", badEcho.port)).toMatchObject({
        result: "fail",
        detail: expect.stringMatching(/connection ids/),
      });
      expect(await checkQuic("127.0.0.1", noV1.port)).toMatchObject({
        result: "fail",
        detail: expect.stringMatching(/no QUIC v1/),
      });
    } finally {
      [good, silent, badEcho, noV1].forEach((s) => s.close());
    }
    expect(parseVersionNegotiation(Buffer.from([0x40, 0, 0, 0, 1]), Buffer.alloc(0), Buffer.alloc(0))).toEqual({
      problem: "answer is not a QUIC long-header packet",
    });
  });

  it("reports a port with no protocol probe as a failure, not a pass", async () => {
    const r = await scanUdp("127.0.0.1", [5000]);
    expect(r[0]).toMatchObject({ result: "fail", detail: expect.stringMatching(/no protocol probe/) });
  });

  it("fails the silence check when it could not ask (a socket error is not silence)", async () => {
    // 192.0.2.77 (TEST-NET-1) is on no interface here, so binding to it fails for every probe.
    const r = await scanUdp("127.0.0.1", [], "192.0.2.77");
    expect(r).toHaveLength(1);
    const err = "bind EADDRNOTAVAIL 192.0.2.77";
    expect(r[0]).toMatchObject({
      name: "udp 127.0.0.1: no undeclared service answers",
      result: "fail",
      detail: `could not ask: DNS 53 (${err}), NTP 123 (${err}), SNMP 161 (${err}), SSDP 1900 (${err}), mDNS 5353 (${err})`,
    });
  });
});

describe("the node-side facts script", () => {
  it("finds a secret left in a file by fingerprint, even inside a longer token, without printing it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "facts-"));
    const secret = "fake-s3cr3t-Value-0123456789";
    fs.writeFileSync(path.join(dir, "leak.env"), `API_TOKEN=prefix${secret}suffix\n`);
    fs.writeFileSync(path.join(dir, "clean.conf"), "nothing to see here at all\n");
    // Certificates are public and skipped: a window of one is not looked at, a secret beside it is.
    const certBody = "MIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGVCb2R5UHVibGljMAoGCCqGSM49BAMC";
    fs.writeFileSync(
      path.join(dir, "site.pem"),
      `-----BEGIN CERTIFICATE-----\n${certBody}\n-----END CERTIFICATE-----\nKEY=${secret}\n`,
    );
    // Files as their packages shipped them are skipped (md5sums and conffiles), changed ones are not.
    const md5 = (t: string) => createHash("md5").update(t).digest("hex");
    const shipped = `KEY=${secret}\n`;
    fs.writeFileSync(path.join(dir, "shipped.conf"), shipped);
    fs.writeFileSync(path.join(dir, "shipped-conffile.conf"), shipped);
    fs.writeFileSync(path.join(dir, "changed.conf"), shipped);
    const dpkgDir = path.join(dir, ".dpkg");
    fs.mkdirSync(path.join(dpkgDir, "info"), { recursive: true });
    fs.writeFileSync(
      path.join(dpkgDir, "info", "fake.md5sums"),
      `${md5(shipped)}  ${dir.slice(1)}/shipped.conf\n${md5("as shipped")}  ${dir.slice(1)}/changed.conf\n`,
    );
    fs.writeFileSync(
      path.join(dpkgDir, "status"),
      `Package: fake\nConffiles:\n ${dir}/shipped-conffile.conf ${md5(shipped)}\n ${dir}/gone.conf ${md5("x")} obsolete\n`,
    );
    const args = {
      units: [],
      timers: [],
      mounts: [],
      stateDir: "/nonexistent",
      nodeB: null,
      postgres: false,
      plaintextRoots: [dir],
      plaintextSkip: [dpkgDir],
      secretLengths: [Buffer.byteLength(secret), 23, 40],
      secretFingerprints: [sha256(secret), sha256("not-the-secret-value-xx"), sha256(certBody.slice(4, 44))],
    };
    const out = execFileSync(
      "python3",
      [path.join(ROOT, "scripts/accept/remote/facts.py"), JSON.stringify({ ...args, dpkgDir })],
      {
        encoding: "utf8",
      },
    );
    expect(out).not.toContain(secret);
    const facts = JSON.parse(out);
    expect(facts.plaintext.filesScanned).toBe(4);
    expect(facts.plaintext.packagedUnchanged).toBe(2);
    expect(facts.plaintext.fingerprints).toEqual([sha256(secret)]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
