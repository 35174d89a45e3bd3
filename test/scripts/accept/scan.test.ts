// The acceptance scan against a real firewall: two network namespaces joined by a veth pair, the
// target with an nftables input policy of drop (as on a node), so closed ports are silent, not
// refused. Needs root, ip and nft (CI has them).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { ScanResult } from "../../../scripts/accept/scan.js";
import { ROOT } from "../../support/helpers.js";
import { describeWithTools } from "../../support/tools.js";

const SCANNER = "xscan-s";
const TARGET = "xscan-t";
const TARGET_IP = "192.0.2.2";

const sh = (args: string[], input?: string) => {
  const r = spawnSync(args[0]!, args.slice(1), { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
};
const firewall = (extra: string) => `
table inet t {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    ${extra}
    tcp dport { 80, 443, 4321 } accept
  }
}`;

function scan(opts: Record<string, unknown>): ScanResult {
  const r = spawnSync(
    "ip",
    [
      "netns",
      "exec",
      SCANNER,
      path.join(ROOT, "node_modules/.bin/tsx"),
      path.join(ROOT, "test/scan/run-scan.ts"),
      TARGET_IP,
      JSON.stringify(opts),
    ],
    { encoding: "utf8", timeout: 120_000 },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as ScanResult;
}

describeWithTools(
  "the acceptance scan against an nftables drop policy",
  { root: true, commands: ["nft", "ip"] },
  () => {
    const listeners: ChildProcess[] = [];

    beforeAll(async () => {
      for (const ns of [SCANNER, TARGET]) spawnSync("ip", ["netns", "del", ns]);
      sh(["ip", "netns", "add", SCANNER]);
      sh(["ip", "netns", "add", TARGET]);
      sh(["ip", "-n", SCANNER, "link", "add", "s0", "type", "veth", "peer", "name", "t0", "netns", TARGET]);
      sh(["ip", "-n", SCANNER, "addr", "add", "192.0.2.1/24", "dev", "s0"]);
      sh(["ip", "-n", TARGET, "addr", "add", `${TARGET_IP}/24`, "dev", "t0"]);
      for (const [ns, dev] of [
        [SCANNER, "s0"],
        [TARGET, "t0"],
        [SCANNER, "lo"],
        [TARGET, "lo"],
      ])
        sh(["ip", "-n", ns!, "link", "set", dev!, "up"]);
      sh(["ip", "netns", "exec", TARGET, "nft", "-f", "-"], firewall(""));
      // 80 and 443 are the expected (class-A) ports; 4321 is a leak the scan has to report.
      for (const port of [80, 443, 4321]) {
        const l = spawn(
          "ip",
          [
            "netns",
            "exec",
            TARGET,
            "node",
            "-e",
            `require("net").createServer((s) => s.destroy()).listen(${port}, () => console.log("up"))`,
          ],
          { stdio: ["ignore", "pipe", "inherit"] },
        );
        listeners.push(l);
        await new Promise((r) => l.stdout!.once("data", r));
      }
    }, 30_000);

    afterAll(() => {
      listeners.forEach((l) => l.kill());
      for (const ns of [SCANNER, TARGET]) spawnSync("ip", ["netns", "del", ns]);
    });

    it("sweeps all 65535 ports: the open ones found, the leak among them, the sweep checked by its canaries", () => {
      const r = scan({ confirm: [80, 443] });
      expect(r.open).toEqual([80, 443, 4321]);
      // 255 canaries a sweep; a machine too busy to keep up may lose some and sweep chunks again, slower.
      expect(r).toMatchObject({ reliable: true, passes: 1 });
      expect(r.canary.probes).toBeGreaterThanOrEqual(255);
      // The sweep's wait per port derives from the measured round trip (loopback-fast here: the floor).
      expect(r.rttMs).toBeLessThan(50);
      expect(r.timeoutMs).toBe(250);
    }, 120_000);

    it("slows down when canaries go unanswered, and calls the scan unreliable when that does not help", () => {
      // The target answers 443 about once a second: most in-sweep canaries to it are dropped.
      sh(
        ["ip", "netns", "exec", TARGET, "nft", "-f", "-"],
        `flush ruleset\n${firewall("tcp dport 443 ct state new limit rate over 1/second burst 1 packets drop")}`,
      );
      try {
        const r = scan({ confirm: [80, 443], ports: Array.from({ length: 8192 }, (_, i) => i + 1), timeoutMs: 100 });
        expect(r.reliable).toBe(false);
        expect(r.canary.missed).toBeGreaterThan(0);
        // One chunk (8192 ports): swept at 4096, 2048, 1024, 512 and 256 sockets, losing canaries each time.
        expect(r).toMatchObject({ concurrency: 256, canary: { probes: 5 * 32, slowdowns: 4 } });
        // What it did see open is still reported.
        expect(r.open).toEqual(expect.arrayContaining([80, 4321]));
      } finally {
        sh(["ip", "netns", "exec", TARGET, "nft", "-f", "-"], `flush ruleset\n${firewall("")}`);
      }
    }, 120_000);
  },
);
