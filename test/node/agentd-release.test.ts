// L3 for the shipped agentd-release's decisions (real bash, jq and files; systemctl, journalctl and
// curl are stand-ins that answer from the release `current` points at): a release that passes its
// gate stays, one whose web tier is unhealthy or whose workers restart is rolled back to the one it
// replaced, each leaving its record, history line and metrics; pruning keeps `keep` releases. The
// rendered gate settings are tst's, with two workers and shorter bounds. npm run test:e2e proves
// the same on systemd.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { agentdReleaseEnv } from "../../cloud-init/configs.js";
import { layoutIn } from "../../lab/layout.js";
import { planOf } from "../../lab/stacks.js";
import { ROOT } from "../support/helpers.js";
import { describeWithTools } from "../support/tools.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-agentd-release-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const d = (...p: string[]) => path.join(dir, ...p);

const plan = planOf("tst", (c) => {
  c.agentd = { ...c.agentd, workers: 2, release: { timeoutSeconds: 5, settleSeconds: 2, keep: 3 } };
});
const nodeA = plan.nodes.find((n) => n.key === "nodeA")!;
const gateEnv = agentdReleaseEnv(plan, nodeA);

// The stand-ins read the current release's name: "bad-web…" answers 503, "bad-worker…" has workers
// whose main PID changes on every look (restarting), anything else is healthy.
const CURRENT = `basename "$(readlink ${d("home/current")})"`;
const STANDINS: Record<string, string> = {
  systemctl: `cur=$(${CURRENT})
case $1 in
  is-enabled) exit 0 ;;
  reset-failed | restart) echo "systemctl $* ($cur)" >>${d("calls.log")} ;;
  show)
    case $3 in
      ActiveState) echo active ;;
      MainPID) if [[ $cur == bad-worker* && \${*: -1} == agentd-worker* ]]; then date +%s%N; else echo 100; fi ;;
      NRestarts) echo 0 ;;
      Result) echo success ;;
    esac ;;
esac`,
  curl: `echo "curl \${*: -1}" >>${d("calls.log")}
if [[ $(${CURRENT}) == bad-web* ]]; then printf 503; else printf 200; fi`,
  journalctl: `echo "the release's last words"`,
};

function setUp() {
  for (const sub of ["bin", "etc", "state", "metrics", "home/releases", "src/bin"])
    fs.mkdirSync(d(sub), { recursive: true });
  for (const [name, body] of Object.entries(STANDINS))
    fs.writeFileSync(d("bin", name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  fs.writeFileSync(d("etc/node.env"), `AGENTD_USER=root\nAGENTD_HOME=${d("home")}\n`);
  fs.writeFileSync(d("etc/agentd-release.env"), gateEnv);
  fs.writeFileSync(d("src/bin/agentd"), "#!/bin/sh\n", { mode: 0o755 });
  fs.cpSync(d("src"), d("home/releases/0-bootstrap"), { recursive: true });
  fs.symlinkSync(d("home/releases/0-bootstrap"), d("home/current"));
}

const env = () => ({
  PATH: `${d("bin")}:/usr/bin:/bin`,
  ...layoutIn(d("layout"), {
    XIOPRO_LIB: path.join(ROOT, "cloud-init/files"),
    XIOPRO_ETC: d("etc"),
    XIOPRO_STATE_DIR: d("state"),
    XIOPRO_METRICS_DIR: d("metrics"),
  }),
});
const release = (...args: string[]) => {
  fs.writeFileSync(d("calls.log"), "");
  const r = spawnSync("bash", [path.join(ROOT, "cloud-init/files/agentd-release"), ...args], {
    env: env(),
    encoding: "utf8",
  });
  return { code: r.status, stderr: r.stderr, calls: fs.readFileSync(d("calls.log"), "utf8").trim().split("\n") };
};
const record = () => JSON.parse(fs.readFileSync(d("state/agentd-release.json"), "utf8")) as Record<string, unknown>;
const metric = (name: string) =>
  Number(
    new RegExp(`^xiopro_agentd_release_${name} (\\S+)$`, "m").exec(
      fs.readFileSync(d("metrics/xiopro_agentd_release.prom"), "utf8"),
    )?.[1],
  );
const current = () => path.basename(fs.readlinkSync(d("home/current")));

describeWithTools("agentd-release's gate and rollback", { commands: ["jq", "flock"] }, () => {
  beforeAll(setUp);

  it("renders tst Node A's gate: web first with its health URL, then its two workers", () => {
    expect(gateEnv).toContain('AGENTD_WEB_UNITS="agentd-web.service"');
    expect(gateEnv).toMatch(/^AGENTD_HEALTH_URL=http:\/\/127\.0\.0\.1:8000\/healthz$/m);
    expect(gateEnv).toContain('AGENTD_WORKER_UNITS="agentd-worker@1.service agentd-worker@2.service"');
    expect(gateEnv).toMatch(/^AGENTD_GATE_TIMEOUT=5$/m);
  });

  it("keeps a release that passes its gate, restarting the web tier before the workers", () => {
    const r = release("deploy", d("src"), "good-1");
    expect(r.code, r.stderr).toBe(0);
    expect(current()).toBe("good-1");
    expect(record()).toMatchObject({ event: "deploy", release: "good-1", previous: "0-bootstrap", result: "deployed" });
    const order = r.calls.map((c) => c.replace(/ \(.*\)$/, ""));
    const web = order.indexOf("systemctl restart agentd-web.service");
    const health = order.findIndex((c) => c.startsWith("curl http://127.0.0.1:8000/healthz"));
    const workers = order.indexOf("systemctl restart agentd-worker@1.service agentd-worker@2.service");
    expect([web, health, workers].every((i) => i >= 0) && web < health && health < workers, order.join("\n")).toBe(
      true,
    );
    expect(metric("last_success")).toBe(1);
  });

  it("rolls back a release whose web tier does not answer 200 within the timeout", () => {
    const r = release("deploy", d("src"), "bad-web-1");
    expect(r.code).toBe(1);
    expect(current()).toBe("good-1");
    const rec = record();
    expect(rec).toMatchObject({ release: "bad-web-1", previous: "good-1", result: "rolled-back", current: "good-1" });
    expect(rec.reason).toMatch(/healthz answered 503 \(not 200\) for 5 s: the release's last words$/);
    expect(rec.gateSeconds).toBeGreaterThanOrEqual(5);
    expect(fs.existsSync(d("home/releases/.failed-bad-web-1"))).toBe(true);
    // The rollback gated the previous release the same way: its workers came back last.
    expect(r.calls.at(-1)).toBe("systemctl restart agentd-worker@1.service agentd-worker@2.service (good-1)");
    expect(metric("last_success")).toBe(0);
    expect(metric("rollbacks_total")).toBe(1);
  });

  it("rolls back a release whose workers do not stay up, keeping only the newest failed one", () => {
    const r = release("deploy", d("src"), "bad-worker-1");
    expect(r.code).toBe(1);
    expect(record()).toMatchObject({ release: "bad-worker-1", result: "rolled-back", current: "good-1" });
    expect(record().reason).toMatch(/^agentd-worker@1\.service did not stay up for 2 s/);
    expect(fs.readdirSync(d("home/releases")).sort()).toEqual([".failed-bad-worker-1", "0-bootstrap", "good-1"]);
    expect(metric("rollbacks_total")).toBe(2);
    const history = fs.readFileSync(d("state/agentd-release-history.jsonl"), "utf8").trim().split("\n");
    expect(history.map((l) => (JSON.parse(l) as { result: string }).result)).toEqual([
      "deployed",
      "rolled-back",
      "rolled-back",
    ]);
  });

  it("keeps `keep` releases, the current one included, and rolls back by hand to the newest other", () => {
    for (const n of ["good-2", "good-3", "good-4"]) expect(release("deploy", d("src"), n).code).toBe(0);
    const list = spawnSync("bash", [path.join(ROOT, "cloud-init/files/agentd-release"), "list"], { env: env() });
    expect(list.stdout.toString()).toBe("* good-4\n  good-3\n  good-2\n");
    const r = release("rollback");
    expect(r.code, r.stderr).toBe(0);
    expect(current()).toBe("good-3");
    expect(record()).toMatchObject({ event: "rollback", release: "good-3", previous: "good-4", result: "deployed" });
  });
});
