// `npm run plan` end to end, as an operator runs it: a real child process, exit codes, files.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../support/helpers.js";

const TSX = path.join(ROOT, "node_modules/.bin/tsx");
const plan = (...args: string[]) =>
  spawnSync(TSX, [path.join(ROOT, "scripts/plan/cli.ts"), ...args], {
    cwd: os.tmpdir(),
    encoding: "utf8",
    timeout: 60_000,
  });

describe("npm run plan", () => {
  it("prints the resource table, the exposure matrix and the cost for prd, from any working directory", () => {
    const r = plan("--stack", "prd");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Stack prd \(prd\): 19 resources/);
    expect(r.stdout).toMatch(
      /hcloud\.Server\s+xiopro-infra-prd-node-a\s+cpx62 debian-13 fsn1 ip 10\.0\.1\.10 firewallIds \[\d+\] protected/,
    );
    expect(r.stdout).toMatch(/prd-node-a\s+postgresql\s+5432\/tcp\s+C\s+private/);
    expect(r.stdout).toMatch(/total\s+per year 2161\.68\s+180\.14/);
  });

  it("plans a stack that creates a Storage Box offline, with its SFTP key set as a secret", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-box-"));
    const text = fs
      .readFileSync(path.join(ROOT, "Pulumi.tst.yaml"), "utf8")
      .replace("config:\n", "config:\n  xiopro-infra:backupSftpPrivateKey:\n    secure: AAABAKe0\n")
      .replace(
        /      kind: s3\n(      (endpoint|region|bucket): .*\n)+/,
        "      kind: sftp\n      createStorageBox:\n        type: bx11\n",
      );
    expect(text).toContain("createStorageBox");
    fs.writeFileSync(path.join(dir, "Pulumi.box.yaml"), text);
    const r = plan("--stack-file", path.join(dir, "Pulumi.box.yaml"));
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/hcloud\.StorageBox\s/);
  });

  it("writes user-data, outputs, resources and topology with --out, and JSON with --json", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-"));
    const r = plan("--stack", "tst", "--out", dir, "--json");
    expect(r.status).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual([
      "outputs.json",
      "resources.json",
      "topology.mmd",
      "tst-node-a",
      "tst-node-a.user-data.yaml",
    ]);
    expect(fs.readFileSync(path.join(dir, "tst-node-a/files/etc/caddy/Caddyfile"), "utf8")).toContain(
      "app.tst.xiopro.example {",
    );
    expect(fs.readFileSync(path.join(dir, "tst-node-a.user-data.yaml"), "utf8")).toMatch(/^#cloud-config\n/);
    const doc = JSON.parse(r.stdout);
    expect(doc.outputs.cost.monthlyEur).toBe(28.19);
    expect(Object.keys(doc.userData)).toEqual(["tst-node-a"]);
  });

  it("exits 1 with the validation report for a missing stack file", () => {
    const r = plan("--stack", "staging");
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      'Stack config "staging" has 1 problem; nothing was declared or changed:\n  - Pulumi.staging.yaml: does not exist\n      fix: use one of the stacks prd, tst, or create Pulumi.staging.yaml from Pulumi.tst.yaml (the worked example)\n',
    );
  });

  it("rejects unknown flags and a missing --stack with usage, exit 2", () => {
    const a = plan("--stak", "prd");
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/Unknown option '--stak'/);
    expect(a.stderr).toMatch(/Usage: npm run plan/);
    expect(plan().status).toBe(2);
  });
});
