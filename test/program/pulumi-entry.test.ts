// The Pulumi CLI is not available here; this loads `main` from Pulumi.yaml the way its Node.js
// language host does (automatic ESM mode: ts-node's ESM hooks + tsconfig.json, type checking on) in a
// fresh process.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, stackObject, toRaw } from "../support/helpers.js";

const HOST = path.join(ROOT, "test/fixtures/language-host.cjs");

function load(stack: string, edit?: (c: Record<string, any>) => void) {
  const obj = structuredClone(stackObject(stack)) as Record<string, any>;
  edit?.(obj);
  const raw = toRaw(obj);
  return spawnSync(
    process.execPath,
    [HOST, stack, JSON.stringify({ values: raw.values, secretKeys: [...raw.secretKeys] })],
    { cwd: "/", encoding: "utf8", timeout: 120_000 },
  );
}

describe("Pulumi entry point", () => {
  it("imports infra/index.ts through ts-node's ESM hooks with type checking and yields the stack outputs", () => {
    const r = load("tst");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.environment).toBe("tst");
    expect(out.nodes.nodeA.publicIpv4).toBe("203.0.113.10");
    expect(out.nodes.nodeA.publicIpv6).toBe("2001:db8:100::1");
    expect(out.dnsRecords).toContainEqual({ fqdn: "app.tst.xiopro.example", type: "A", value: "203.0.113.10" });
  });

  it("fails a bad config with the full problem report and no stack trace, before any resource", () => {
    const r = load("tst", (c) => {
      c.nodeA.serverType = "cpx999";
      c.location = "mars1";
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('Stack config "tst" has 2 problems; nothing was declared or changed:');
    expect(r.stderr).toContain('xiopro-infra:location: "mars1" is not a Hetzner location');
    expect(r.stderr).toContain('xiopro-infra:nodeA.serverType: "cpx999" is not a Hetzner server type');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("keeps the project an ES module that the host loads in its automatic ESM mode", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    expect(pkg.type).toBe("module");
    expect(pkg.main).toBe("infra/index.ts");
    const tsconfig = JSON.parse(fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8"));
    expect(tsconfig.compilerOptions.module).toBe("nodenext");
    expect(tsconfig.compilerOptions.moduleResolution).toBe("nodenext");
  });
});
