// L3: the shipped xiopro-ci-runner with the rendered ci-runner.env of the all-options stack's runner
// node, against a local stand-in for GitHub (the just-in-time registration API and the release
// download) serving a fake runner whose run.sh records how it was started.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeFiles } from "../../cloud-init/render.js";
import { buildPlan } from "../../infra/plan/index.js";
import { envFileValues } from "../../lab/pg-cluster.js";
import { layoutIn } from "../../lab/layout.js";
import { configFrom, FIXTURE_STACKS, ROOT, stackObject } from "../support/helpers.js";

const TOKEN = "test-registration-token-7f3a";
const SCRIPT = path.join(ROOT, "cloud-init/files/xiopro-ci-runner");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-ci-runner-"));
const requests: { method: string; url: string; auth?: string; body: string }[] = [];
let server: http.Server;
let base = "";
let tarball: Buffer;
let refuse = false;

/** A runner release whose run.sh writes its arguments and working directory, then exits. */
function fakeRelease(): Buffer {
  const dir = path.join(tmp, "release");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "run.sh"),
    '#!/bin/sh\nprintf "%s\\n" "$PWD" "$@" >"$RUNNER_RECORD"\nmkdir -p _work/leftover\n',
    { mode: 0o755 },
  );
  return execFileSync("tar", ["-czf", "-", "-C", dir, "run.sh"]);
}

beforeAll(async () => {
  tarball = fakeRelease();
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      requests.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
      if (req.url === "/repos/xiopro/platform/actions/runners/generate-jitconfig" && req.method === "POST") {
        if (refuse || req.headers.authorization !== `Bearer ${TOKEN}`) {
          res.writeHead(401, { "content-type": "application/json" });
          return res.end('{"message":"Bad credentials"}');
        }
        res.writeHead(201, { "content-type": "application/json" });
        return res.end(
          JSON.stringify({ runner: { id: 7, name: JSON.parse(body).name }, encoded_jit_config: "JITCFG-1" }),
        );
      }
      if (req.url === "/download/v2.330.0/actions-runner-linux-x64-2.330.0.tar.gz") {
        res.writeHead(200, { "content-type": "application/gzip" });
        return res.end(tarball);
      }
      res.writeHead(404);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The runner node's rendered settings, from the all-options stack. */
function renderedEnv(): Record<string, string> {
  const plan = buildPlan(configFrom(stackObject("full", FIXTURE_STACKS)), "full");
  const node = plan.nodes.find((n) => n.key === "ci-1")!;
  const file = nodeFiles(plan, node).find((f) => f.path === "/etc/xiopro/ci-runner.env")!;
  return envFileValues(file.content);
}

function runScript(
  dir: string,
  args: string[],
  extra: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  const env = {
    PATH: process.env.PATH!,
    ...layoutIn(path.join(dir, "layout"), {}),
    ...renderedEnv(),
    XIOPRO_CI_GITHUB_API: base,
    XIOPRO_CI_DOWNLOAD: `${base}/download`,
    CREDENTIALS_DIRECTORY: path.join(dir, "creds"),
    RUNTIME_DIRECTORY: path.join(dir, "run"),
    STATE_DIRECTORY: path.join(dir, "state"),
    RUNNER_RECORD: path.join(dir, "record"),
    ...extra,
  };
  for (const d of ["creds", "run", "state"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
  return new Promise((resolve) => {
    const p = spawn(SCRIPT, args, { env });
    let stderr = "";
    p.stderr.on("data", (d) => (stderr += d));
    p.on("close", (code) => resolve({ code: code ?? -1, stderr }));
  });
}

describe("xiopro-ci-runner against a stand-in for GitHub", () => {
  const sum = () => createHash("sha256").update(tarball).digest("hex");

  it("registers a runner for one job with the rendered labels, and hands only the configuration on", async () => {
    const dir = path.join(tmp, "register");
    fs.mkdirSync(path.join(dir, "creds"), { recursive: true });
    fs.writeFileSync(path.join(dir, "creds/ci-runner-token"), TOKEN);
    const r = await runScript(dir, ["register"]);
    expect(r.code, r.stderr).toBe(0);
    const req = requests.at(-1)!;
    expect([req.method, req.url, req.auth]).toEqual([
      "POST",
      "/repos/xiopro/platform/actions/runners/generate-jitconfig",
      `Bearer ${TOKEN}`,
    ]);
    const body = JSON.parse(req.body);
    expect(body).toMatchObject({
      runner_group_id: 1,
      labels: ["self-hosted", "linux", "x64", "xiopro"],
      work_folder: "_work",
    });
    expect(body.name).toMatch(new RegExp(`^${os.hostname()}-\\d{14}$`));
    const jit = path.join(dir, "run/jitconfig");
    expect(fs.readFileSync(jit, "utf8").trim()).toBe("JITCFG-1");
    expect(fs.statSync(jit).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(jit, "utf8")).not.toContain(TOKEN);
  });

  it("refuses a release whose SHA-256 is not the pinned one, and unpacks nothing", async () => {
    const dir = path.join(tmp, "checksum");
    fs.mkdirSync(path.join(dir, "run"), { recursive: true });
    fs.writeFileSync(path.join(dir, "run/jitconfig"), "JITCFG-1");
    // The rendered settings pin the fixture's SHA-256, which is not the fake release's.
    const r = await runScript(dir, ["run"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("actions-runner-linux-x64-2.330.0.tar.gz does not match ci-runner.sha256");
    expect(fs.readdirSync(path.join(dir, "state"))).toEqual([]);
    expect(fs.existsSync(path.join(dir, "record"))).toBe(false);
  });

  it("installs the pinned release, runs one job with the configuration in a fresh work directory, and takes the configuration away", async () => {
    const dir = path.join(tmp, "run");
    fs.mkdirSync(path.join(dir, "run"), { recursive: true });
    fs.writeFileSync(path.join(dir, "run/jitconfig"), "JITCFG-1\n");
    const r = await runScript(dir, ["run"], { XIOPRO_CI_RUNNER_SHA256: sum() });
    expect(r.code, r.stderr).toBe(0);
    const dist = path.join(dir, "state/runner-2.330.0");
    expect(fs.readFileSync(path.join(dir, "record"), "utf8").split("\n")).toEqual([
      dist,
      "--jitconfig",
      "JITCFG-1",
      "",
    ]);
    expect(fs.existsSync(path.join(dir, "run/jitconfig"))).toBe(false);
    // The next job: no new download, the last job's work directory gone before it starts.
    const downloads = requests.filter((x) => x.url.startsWith("/download/")).length;
    fs.writeFileSync(path.join(dir, "run/jitconfig"), "JITCFG-2");
    fs.rmSync(path.join(dir, "record"));
    const again = await runScript(dir, ["run"], { XIOPRO_CI_RUNNER_SHA256: sum() });
    expect(again.code, again.stderr).toBe(0);
    expect(requests.filter((x) => x.url.startsWith("/download/")).length).toBe(downloads);
    expect(fs.readFileSync(path.join(dir, "record"), "utf8")).toContain("JITCFG-2");
    expect(fs.readdirSync(path.join(dist, "_work"))).toEqual(["leftover"]); // only the new job's
    // Without a fresh registration the runner does not start.
    const none = await runScript(dir, ["run"], { XIOPRO_CI_RUNNER_SHA256: sum() });
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain("no just-in-time configuration");
  });

  it("fails a refused registration with the reason and writes no configuration", async () => {
    const dir = path.join(tmp, "refused");
    fs.mkdirSync(path.join(dir, "creds"), { recursive: true });
    fs.writeFileSync(path.join(dir, "creds/ci-runner-token"), "wrong");
    refuse = true;
    const r = await runScript(dir, ["register"]);
    refuse = false;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("GitHub refused a runner registration for repos/xiopro/platform");
    expect(fs.readdirSync(path.join(dir, "run"))).toEqual([]);
  });

  it("is skipped, not failed, until the token is delivered", async () => {
    const dir = path.join(tmp, "undelivered");
    const r = await runScript(dir, ["delivered", path.join(dir, "missing-token")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("is not delivered yet: skipped until 'pulumi up' delivers it");
  });
});
