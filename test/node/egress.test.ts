// The outbound allowlist on a real kernel: the rendered nftables ruleset and the real xiopro-egress in
// a network namespace, a second namespace standing in for the internet and the private network.
// Names resolve from a hosts file bind-mounted over /etc/hosts (as the node's resolver would answer),
// the apt sources and resolv.conf likewise; connections are made as an unprivileged user and as root.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { egressList, nftablesRuleset } from "../../cloud-init/configs.js";
import { layoutIn } from "../../lab/layout.js";
import { planOf, ROOT } from "../support/helpers.js";

const NODE_NS = "xeg-node";
const WORLD_NS = "xeg-world";
const PROVIDER = "198.51.100.10";
const ELSEWHERE = "198.51.100.20";
const MIRROR = "198.51.100.30";
const PEER = "10.1.1.20";
/** Ports the stand-in internet listens on, per address. */
const LISTEN = [
  [PROVIDER, 443],
  [PROVIDER, 8443],
  [ELSEWHERE, 443],
  [MIRROR, 80],
  [PEER, 5000],
] as const;

const plan = planOf("tst", (c) => {
  c.egress = {
    allowlistRoles: ["control"],
    allow: [{ host: "api.provider.test", ports: [443], why: "model provider API of the agents" }],
  };
});
const nodeA = plan.nodes.find((n) => n.key === "nodeA")!;

const sh = (args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: "pipe" }).toString();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-egress-"));
let world: ChildProcess | undefined;

/** Runs xiopro-egress in the node's namespace with the test's hosts, resolv.conf and apt sources. */
function refresh(hosts: string): string {
  fs.writeFileSync(path.join(dir, "hosts"), hosts);
  const binds = [
    ["hosts", "/etc/hosts"],
    ["resolv.conf", "/etc/resolv.conf"],
    ["apt", "/etc/apt"],
  ]
    .map(([from, to]) => `mount --bind ${path.join(dir, from!)} ${to}`)
    .join(" && ");
  const r = spawnSync(
    "ip",
    [
      "netns",
      "exec",
      NODE_NS,
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      `${binds} && exec bash "$0"`,
    ].concat(path.join(ROOT, "cloud-init/files/xiopro-egress")),
    { env: { ...process.env, ...layoutIn(dir, { XIOPRO_ETC: dir, XIOPRO_LIB: dir }) }, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`xiopro-egress failed (${r.status}): ${r.stderr}`);
  return r.stderr;
}

/** Whether a TCP connection from the node's namespace succeeds, as root or as nobody. */
function connects(address: string, port: number, as: "root" | "nobody"): string {
  const probe = `const s=require("net").connect({host:"${address}",port:${port}});s.setTimeout(2000,()=>{console.log("timeout");process.exit(0)});s.on("connect",()=>{console.log("open");process.exit(0)});s.on("error",(e)=>{console.log(e.code);process.exit(0)})`;
  const user = as === "nobody" ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
  return sh(["ip", "netns", "exec", NODE_NS, ...user, process.execPath, "-e", probe]).trim();
}

describe("egress allowlist (nftables in a network namespace)", () => {
  beforeAll(async () => {
    for (const ns of [NODE_NS, WORLD_NS]) spawnSync("ip", ["netns", "del", ns]);
    sh(["ip", "netns", "add", NODE_NS]);
    sh(["ip", "netns", "add", WORLD_NS]);
    sh(["ip", "-n", NODE_NS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", WORLD_NS]);
    for (const [ns, addrs] of [
      [NODE_NS, ["192.0.2.2/24", "10.1.1.10/24"]],
      [WORLD_NS, ["192.0.2.1/24", `${PEER}/24`]],
    ] as const) {
      sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
      sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
      for (const a of addrs) sh(["ip", "-n", ns, "addr", "add", a, "dev", "eth0"]);
    }
    for (const a of [PROVIDER, ELSEWHERE, MIRROR]) sh(["ip", "-n", WORLD_NS, "addr", "add", `${a}/32`, "dev", "lo"]);
    sh(["ip", "-n", NODE_NS, "route", "add", "default", "via", "192.0.2.1"]);
    // The stand-in internet: one listener per address and port.
    const listeners = LISTEN.map(([a, p]) => `require("net").createServer((c)=>c.end()).listen(${p},"${a}")`).join(";");
    world = spawn("ip", ["netns", "exec", WORLD_NS, process.execPath, "-e", `${listeners};console.log("ready")`]);
    await new Promise<void>((resolve, reject) => {
      world!.stdout!.once("data", () => resolve());
      world!.once("exit", (code) => reject(new Error(`listeners exited ${code}`)));
    });
    fs.writeFileSync(path.join(dir, "egress.tsv"), egressList(plan, nodeA));
    // No resolver answers here: one short try per name, so names outside the hosts file fail fast.
    fs.writeFileSync(path.join(dir, "resolv.conf"), "nameserver 192.0.2.53\noptions timeout:1 attempts:1\n");
    fs.mkdirSync(path.join(dir, "apt/sources.list.d"), { recursive: true });
    fs.writeFileSync(
      path.join(dir, "apt/sources.list"),
      "# comment http://commented.test/\ndeb http://mirror.test/debian bookworm main\n",
    );
    fs.writeFileSync(path.join(dir, "apt/sources.list.d/grafana.list"), "deb https://apt.grafana.test stable main\n");
    fs.writeFileSync(
      path.join(dir, "xiopro-lib.sh"),
      fs.readFileSync(path.join(ROOT, "cloud-init/files/xiopro-lib.sh")),
    );
    fs.writeFileSync(path.join(dir, "ruleset.nft"), nftablesRuleset(plan, nodeA));
    sh(["ip", "netns", "exec", NODE_NS, "nft", "-f", path.join(dir, "ruleset.nft")]);
  });

  afterAll(() => {
    world?.kill();
    for (const ns of [NODE_NS, WORLD_NS]) spawnSync("ip", ["netns", "del", ns]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("lets an unprivileged process reach only resolved destinations, the resolvers, the apt mirror and the private network", () => {
    const log = refresh(
      `${PROVIDER} api.provider.test\n${MIRROR} mirror.test apt.grafana.test\n198.51.100.40 commented.test\n`,
    );
    // The plan's NTP servers, ACME and backup hosts do not resolve here: logged, not allowed.
    expect(log).toMatch(/egress: \d+ IPv4 and 0 IPv6 destinations allowed from \d+ entries/);
    expect(log).toContain("no address for ntp1.hetzner.de");
    const sets = sh(["ip", "netns", "exec", NODE_NS, "nft", "list", "set", "inet", "xiopro_egress", "allow4"]);
    for (const e of [
      `${PROVIDER} . tcp . 443`,
      `${MIRROR} . tcp . 80`,
      `${MIRROR} . tcp . 443`,
      "192.0.2.53 . udp . 53",
      "192.0.2.53 . tcp . 53",
    ])
      expect(sets).toContain(e);
    // A commented-out apt source is no destination.
    expect(sets).not.toContain("198.51.100.40");
    expect(connects(PROVIDER, 443, "nobody")).toBe("open");
    expect(connects(MIRROR, 80, "nobody")).toBe("open");
    expect(connects(PEER, 5000, "nobody")).toBe("open");
    // Another port of an allowed host, and a host that is not listed: refused at once.
    expect(connects(PROVIDER, 8443, "nobody")).not.toBe("open");
    expect(connects(ELSEWHERE, 443, "nobody")).not.toBe("open");
    expect(connects(ELSEWHERE, 443, "nobody")).not.toBe("timeout");
    // Root (apt's frontend, cloud-init, tailscaled) is not limited.
    expect(connects(ELSEWHERE, 443, "root")).toBe("open");
  });

  it("follows a name to its new address on the next refresh, and drops the old one", () => {
    refresh(`${ELSEWHERE} api.provider.test\n${MIRROR} mirror.test\n`);
    expect(connects(ELSEWHERE, 443, "nobody")).toBe("open");
    expect(connects(PROVIDER, 443, "nobody")).not.toBe("open");
  });
});
