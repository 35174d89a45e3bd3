// L2: the bake server's user-data (npm run bake, ADR 0008) passes cloud-init's own schema check, and
// the package set's hash names exactly the image and the set.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderBakeUserData } from "../../cloud-init/bake.js";
import { packagesFor } from "../../infra/plan/packages.js";
import { renderUserData } from "../../cloud-init/render.js";
import { bakeSetOf } from "../../infra/plan/bake.js";
import { planOf, TEST_SECRETS } from "../support/helpers.js";

const plan = planOf("prd");
const node = plan.nodes[0]!;
const set = bakeSetOf(node, packagesFor(plan, node));

describe("a package set's hash", () => {
  it("is the same for the same set in any order, and differs for another image or package", () => {
    expect(bakeSetOf(node, [...set.packages].reverse()).hash).toBe(set.hash);
    expect(bakeSetOf(node, [...set.packages, set.packages[0]!]).hash).toBe(set.hash);
    expect(bakeSetOf({ ...node, image: "debian-12" }, set.packages).hash).not.toBe(set.hash);
    expect(bakeSetOf({ ...node, architecture: "arm" }, set.packages).hash).not.toBe(set.hash);
    expect(bakeSetOf(node, [...set.packages, "htop"]).hash).not.toBe(set.hash);
    expect(set.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(set.selector).toBe(`xiopro-bake=${set.hash}`);
    expect(set.labels).toEqual({
      "xiopro-bake": set.hash,
      "xiopro-image": "debian-13",
      "xiopro-architecture": "x86",
      "managed-by": "xiopro-infra",
    });
  });

  it("names the packages the node's own first boot installs", () => {
    const volumeIds = Object.fromEntries(node.volumes.map((v, i) => [v.key, String(101 + i)]));
    const userData = parse(renderUserData(plan, node, { volumeIds })) as {
      packages: string[];
    };
    expect(set.packages).toEqual([...new Set(userData.packages)].sort());
  });
});

describe("the bake server's user-data", () => {
  const text = renderBakeUserData(set);
  const doc = parse(text) as Record<string, any>;

  it("passes cloud-init schema with empty stderr", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bake-"));
    fs.writeFileSync(path.join(dir, "user-data.yaml"), text);
    const out = spawnSync("cloud-init", ["schema", "--config-file", path.join(dir, "user-data.yaml")], {
      encoding: "utf8",
      timeout: 60_000,
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(out.stderr).toBe("");
    expect(out.status).toBe(0);
  });

  it("installs the set with updates, starts no service, makes no cluster, and powers off only when all are installed", () => {
    expect(doc.packages).toEqual(set.packages);
    expect(doc.package_update).toBe(true);
    expect(doc.package_upgrade).toBe(true);
    expect(doc.write_files.map((f: { path: string }) => f.path)).toEqual([
      "/usr/sbin/policy-rc.d",
      "/etc/postgresql-common/createcluster.d/50-xiopro.conf",
    ]);
    expect(doc.runcmd[0]).toEqual(["rm", "-f", "/usr/sbin/policy-rc.d"]);
    expect(doc.power_state.mode).toBe("poweroff");
    const condition = doc.power_state.condition as string[];
    expect(condition.slice(0, 2)).toEqual(["sh", "-c"]);
    for (const p of set.packages) expect(condition[2]).toContain(`-f='\${Status}' ${p} |`);
  });

  it("checks the packages with a condition that fails when one is missing", () => {
    // dpkg-query answers for this machine's packages: a set of two installed ones passes, one more fails.
    const cond = (pkgs: string[]) =>
      (parse(renderBakeUserData(bakeSetOf({ image: "debian-13", architecture: "x86" }, pkgs))) as Record<string, any>)
        .power_state.condition as string[];
    expect(spawnSync(cond(["bash", "coreutils"])[0]!, cond(["bash", "coreutils"]).slice(1)).status).toBe(0);
    const missing = cond(["bash", "coreutils", "xiopro-no-such-package"]);
    expect(spawnSync(missing[0]!, missing.slice(1)).status).not.toBe(0);
  });

  it("carries no node fact and no secret: one snapshot serves every node of the set", () => {
    for (const fact of [node.name, node.privateIp, plan.domain, ...plan.sshKeys.map((k) => k.publicKey)])
      expect(text).not.toContain(fact);
    for (const secret of Object.values(TEST_SECRETS)) expect(text).not.toContain(secret);
  });
});
