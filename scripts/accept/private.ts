// Acceptance from inside the private network: a full TCP scan of a node's private address from one
// source address, expecting exactly the class C ports the plan admits to that address, and PostgreSQL's
// answer to each role's startup from it (pg_hba admits a role only from its planned nodes).
import * as net from "node:net";
import { execa } from "execa";
import { pgHba } from "../../cloud-init/configs.js";
import { DATABASE_NAME, PG_ROLE_PREFIX } from "../../infra/catalog/layout.js";
import { portOf } from "../../infra/catalog/services.js";
import { contains, parseCidr, parseIpv4 } from "../../infra/config/ipv4.js";
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import type { CheckResult } from "./checks.js";
import { scanTcp, type ScanResult } from "./scan.js";

/** One `host` line of pg_hba.conf. */
export interface HbaHostLine {
  database: string;
  user: string;
  address: string;
}

/** The `host` lines of a pg_hba.conf (comments, blank and `local` lines dropped). */
export function hbaHostLines(text: string): HbaHostLine[] {
  return text
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim().split(/\s+/))
    .filter((f) => f[0] === "host")
    .map(([, database, user, address]) => ({ database: database!, user: user!, address: address! }));
}

/** A login PostgreSQL is asked for: a role, and whether as a physical replication connection. */
export interface RoleProbe {
  role: string;
  replication: boolean;
  /** What the plan says pg_hba does with it from this address. */
  admitted: boolean;
}

export interface PrivateExpectation {
  from: string;
  /** The planned node (or load balancer) whose private address `from` is, if any. */
  owner?: string;
  target: string;
  address: string;
  /** TCP ports the host firewall admits from `from` (class C rules naming it). */
  tcpOpen: number[];
  /** Empty unless the target runs PostgreSQL and its port is admitted from `from`. */
  roles: RoleProbe[];
}

const inAddress = (ip: string, address: string) => {
  const net = parseCidr(address.includes("/") ? address : `${address}/32`);
  const a = parseIpv4(ip);
  return net !== undefined && a !== undefined && contains(net, a);
};

/** What the plan admits from `from` to `node`'s private address: ports, and roles at the database. */
export function privateExpectation(plan: Plan, node: NodePlan, from: string): PrivateExpectation {
  const tcpOpen = node.hostFirewall
    .filter((r) => r.protocol === "tcp" && r.from.kind === "peers" && r.from.peers.some((p) => p.ip === from))
    .map((r) => r.port)
    .sort((a, b) => a - b);
  const pg = node.services.find((s) => s.name === "postgresql");
  const roles: RoleProbe[] = [];
  if (pg && tcpOpen.includes(portOf("postgresql", "postgres-private"))) {
    const lines = hbaHostLines(pgHba(plan, node)).filter((l) => inAddress(from, l.address));
    const platform = (pg.additions.env?.XIOPRO_PG_ROLES ?? "").split(",").filter(Boolean);
    const named = new Set([...platform.map((r) => `${PG_ROLE_PREFIX}${r}`), ...lines.map((l) => l.user)]);
    named.delete("all");
    const admits = (role: string, replication: boolean) =>
      lines.some(
        (l) =>
          (l.user === role || l.user === "all") &&
          (replication ? l.database === "replication" : l.database === "all" || l.database === DATABASE_NAME),
      );
    for (const role of [...named].sort())
      for (const replication of [false, true]) roles.push({ role, replication, admitted: admits(role, replication) });
  }
  return {
    from,
    owner:
      plan.nodes.find((n) => n.privateIp === from)?.name ??
      (plan.loadBalancer?.privateIp === from ? plan.loadBalancer.name : undefined),
    target: node.name,
    address: node.privateIp,
    tcpOpen,
    roles,
  };
}

/** PostgreSQL's first answer to a startup message: authentication requested, or an error with its SQLSTATE. */
export type StartupAnswer =
  | { kind: "auth"; method: number }
  | { kind: "error"; sqlstate: string; message: string }
  | { kind: "none"; why: string };

/** SASL: what pg_hba's scram-sha-256 method asks for first. */
export const AUTH_SASL = 10;
/** invalid_authorization_specification: the server's answer when no pg_hba line matches. */
export const NO_HBA_ENTRY = "28000";

function startupMessage(role: string, replication: boolean): Buffer {
  const params = [
    "user",
    role,
    "database",
    replication ? "replication" : DATABASE_NAME,
    ...(replication ? ["replication", "true"] : []),
  ];
  const body = Buffer.concat([...params.map((p) => Buffer.from(`${p}\0`, "utf8")), Buffer.from([0])]);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(3 << 16, 4); // protocol 3.0
  return Buffer.concat([head, body]);
}

/** Parses the first backend message: 'R' (authentication request) or 'E' (ErrorResponse fields). */
export function parseStartupAnswer(buf: Buffer): StartupAnswer | undefined {
  if (buf.length < 5) return undefined;
  const len = buf.readInt32BE(1);
  if (buf.length < 1 + len) return undefined;
  const type = String.fromCharCode(buf[0]!);
  if (type === "R") return { kind: "auth", method: buf.readInt32BE(5) };
  if (type === "E") {
    const fields: Record<string, string> = {};
    let i = 5;
    while (i < 1 + len && buf[i] !== 0) {
      const code = String.fromCharCode(buf[i]!);
      const end = buf.indexOf(0, i + 1);
      fields[code] = buf.toString("utf8", i + 1, end);
      i = end + 1;
    }
    return { kind: "error", sqlstate: fields.C ?? "", message: fields.M ?? "" };
  }
  return { kind: "none", why: `unexpected message type ${JSON.stringify(type)}` };
}

/** Sends one startup message from `localAddress` and returns PostgreSQL's first answer. */
export function pgStartup(
  host: string,
  port: number,
  probe: Pick<RoleProbe, "role" | "replication">,
  opts: { localAddress?: string; timeoutMs?: number } = {},
): Promise<StartupAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress: opts.localAddress });
    let got = Buffer.alloc(0);
    const done = (a: StartupAnswer) => {
      socket.destroy();
      resolve(a);
    };
    socket.setTimeout(opts.timeoutMs ?? 5000, () => done({ kind: "none", why: "no answer (dropped?)" }));
    socket.on("connect", () => socket.write(startupMessage(probe.role, probe.replication)));
    socket.on("data", (d) => {
      got = Buffer.concat([got, d]);
      const a = parseStartupAnswer(got);
      if (a) done(a);
    });
    socket.on("error", (e) => done({ kind: "none", why: e.message }));
    socket.on("close", () => done({ kind: "none", why: "closed without an answer" }));
  });
}

const list = (ports: number[]) => (ports.length ? ports.join(",") : "none");

/** The scan's verdict: exactly the admitted ports open, proven only by a reliable scan. */
export function evaluatePrivateScan(
  e: PrivateExpectation,
  scan: Pick<ScanResult, "open" | "reliable" | "passes" | "timeoutMs">,
  seconds: number,
): CheckResult {
  const who = e.owner ? `${e.owner}'s address` : "an address of no node";
  const name = `private network: from ${e.from} (${who}) exactly tcp ${list(e.tcpOpen)} open on ${e.address}`;
  const extra = scan.open.filter((p) => !e.tcpOpen.includes(p));
  const missing = e.tcpOpen.filter((p) => !scan.open.includes(p));
  const how = `${scan.passes} sweep(s) of 65535 ports, ${scan.timeoutMs} ms per port`;
  if (extra.length || missing.length || !scan.reliable)
    return {
      name,
      required: true,
      result: "fail",
      detail: [
        extra.length ? `open but not admitted: ${extra.join(",")}` : "",
        missing.length ? `admitted but not answering: ${missing.join(",")}` : "",
        scan.reliable ? "" : "scan unreliable (answers from open ports were lost)",
        how,
      ]
        .filter(Boolean)
        .join("; "),
      seconds,
    };
  return { name, required: true, result: "pass", detail: `open ${list(scan.open)}; ${how}`, seconds };
}

/** One role's verdict: pg_hba offered SCRAM where the plan admits it, refused it (28000) elsewhere. */
export function evaluateRoleProbe(e: PrivateExpectation, p: RoleProbe, a: StartupAnswer, seconds: number): CheckResult {
  const kind = p.replication ? "replication" : `database ${DATABASE_NAME}`;
  const name = `PostgreSQL from ${e.from}: ${p.role} (${kind}) ${p.admitted ? "admitted to SCRAM" : "refused by pg_hba"}`;
  const saw =
    a.kind === "auth"
      ? `asked for authentication method ${a.method}`
      : a.kind === "error"
        ? `${a.sqlstate} ${a.message}`
        : a.why;
  const ok = p.admitted
    ? a.kind === "auth" && a.method === AUTH_SASL
    : a.kind === "error" && a.sqlstate === NO_HBA_ENTRY;
  return { name, required: true, result: ok ? "pass" : "fail", detail: saw, seconds };
}

/**
 * The node answers ICMP echo from `from` (the host firewall accepts ICMP from anywhere): the path works,
 * so a port that stays silent in the scan is dropped by the firewall, not lost on the way.
 */
async function pathCheck(e: PrivateExpectation): Promise<CheckResult> {
  const t0 = Date.now();
  const r = await execa("ping", ["-n", "-c", "3", "-i", "0.5", "-W", "3", "-I", e.from, e.address], { reject: false });
  const summary = r.stdout.split("\n").filter((l) => /packets transmitted|rtt/.test(l));
  return {
    name: `private network: ${e.address} answers ICMP echo from ${e.from} (the path the scan relies on)`,
    required: true,
    result: r.exitCode === 0 ? "pass" : "fail",
    detail: (summary.length ? summary : [r.stderr || r.stdout]).join("; "),
    seconds: (Date.now() - t0) / 1000,
  };
}

/** Scans `node`'s private address from `from` (a local address) and probes the database's roles. */
export async function privateChecks(plan: Plan, node: NodePlan, from: string): Promise<CheckResult[]> {
  const e = privateExpectation(plan, node, from);
  const path = await pathCheck(e);
  if (path.result === "fail") return [path];
  const t0 = Date.now();
  // Nothing admitted means no canary to measure lost answers by: a second sweep must agree.
  const scan = await scanTcp(e.address, { localAddress: from, confirm: e.tcpOpen, passes: e.tcpOpen.length ? 1 : 2 });
  const results = [path, evaluatePrivateScan(e, scan, (Date.now() - t0) / 1000)];
  for (const p of e.roles) {
    const t1 = Date.now();
    const a = await pgStartup(e.address, portOf("postgresql", "postgres-private"), p, { localAddress: from });
    results.push(evaluateRoleProbe(e, p, a, (Date.now() - t1) / 1000));
  }
  return results;
}
