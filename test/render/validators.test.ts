// L2: every rendered artifact of every node passes the real third-party validator.
// prd, tst and a variant with every optional path on (Nodes C and D, SSH allowlist, SFTP repo).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ACME_CA_ROOT_FILE } from "../../cloud-init/configs.js";
import { opsBundle, opsFiles } from "../../cloud-init/ops-bundle.js";
import {
  BUNDLE_PATH,
  nodeFiles,
  POLICY_RC_D,
  renderUserData,
  shipped,
  USER_DATA_LIMIT,
  VOLUMES_PATH,
} from "../../cloud-init/render.js";
import { libFile } from "../../infra/catalog/layout.js";
import { UNDELIVERED } from "../../infra/config/secrets.js";
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import { buildPlan } from "../../infra/plan/index.js";
import { configFrom, FIXTURE_STACKS, planOf, ROOT, stackObject } from "../support/helpers.js";
import { packageUnits, toolRows } from "../support/distro.js";
import { layoutIn } from "../../lab/layout.js";

const VARIANTS: Record<string, () => Plan> = {
  prd: () => planOf("prd"),
  tst: () => planOf("tst"),
  // Every optional path on (Nodes C and D, SSH allowlist, SFTP repository, WAL receiver, custom services).
  full: () => buildPlan(configFrom(stackObject("full", FIXTURE_STACKS)), "full"),
  // ACME from a private CA (as the VM proof's Pebble): acme_ca and acme_ca_root with the root file.
  acme: () =>
    planOf("tst", (c) => {
      c.ingress = {
        ...c.ingress,
        tls: "acme",
        acmeDirectory: "https://acme.internal.example:14000/dir",
        acmeCaRoot: fs.readFileSync(path.join(ROOT, "test/fixtures/acme-ca-root.pem"), "utf8"),
      };
    }),
};

interface Rendered {
  plan: Plan;
  node: NodePlan;
  dir: string;
  userData: string;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "validators-"));
const rendered: Rendered[] = [];
const scores: string[] = [];

function run(cmd: string, args: string[], opts: { cwd?: string } = {}) {
  return spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000, ...opts });
}

// The distro units the rendered units order against and extend, from the packages that ship them
// (declared in scripts/tools.tsv, unpacked by install-tools.sh): never this machine's own units.
const DISTRO_UNITS = toolRows().filter((r) => r.kind === "unit");
const UNIT_PACKAGES = [...new Set(DISTRO_UNITS.map((r) => r.pkg).filter((p) => p !== "-"))];

beforeAll(() => {
  // A root with those units, so `systemd-analyze verify --root` can resolve targets and parents.
  for (const [variant, make] of Object.entries(VARIANTS)) {
    const plan = make();
    for (const node of plan.nodes) {
      const dir = path.join(work, `${variant}-${node.name}`);
      const units = path.join(dir, "root/usr/lib/systemd/system");
      fs.mkdirSync(units, { recursive: true });
      for (const pkg of UNIT_PACKAGES)
        for (const [name, file] of packageUnits(pkg)) execFileSync("cp", ["-a", file, path.join(units, name)]);
      const volumeIds = Object.fromEntries(node.volumes.map((v, i) => [v.key, String(100000 + i)]));
      const userData = renderUserData(plan, node, { volumeIds });
      fs.writeFileSync(path.join(dir, "user-data.yaml"), userData);
      // Unpack the user-data exactly as the node does: write_files, then tar -xzf of the bundle.
      const doc = parse(userData) as { write_files: { path: string; content: string; encoding?: string }[] };
      for (const f of doc.write_files) {
        const target = path.join(dir, "root", f.path);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, f.encoding === "b64" ? Buffer.from(f.content, "base64") : f.content);
      }
      execFileSync("tar", ["-xzf", path.join(dir, "root", BUNDLE_PATH), "-C", path.join(dir, "root")]);
      // Then the operations bundle Pulumi pushes after boot (ADR 0002), as xiopro-ops unpacks it.
      const ops = opsBundle(plan, node);
      if (ops) execFileSync("tar", ["-xzf", "-", "-C", path.join(dir, "root")], { input: Buffer.from(ops, "base64") });
      rendered.push({ plan, node, dir, userData });
    }
  }
});

afterAll(() => {
  console.log(`systemd-analyze security --offline=true (exposure, lower is better; bound 2.0):\n${scores.join("\n")}`);
  fs.rmSync(work, { recursive: true, force: true });
});

const each = (fn: (r: Rendered) => void) => () => {
  expect(rendered.length).toBe(7); // prd A, tst A, full A+C+D and its CI runner, acme A
  for (const r of rendered) fn(r);
};
const unitsOf = (r: Rendered) => {
  const dir = path.join(r.dir, "root/etc/systemd/system");
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.(service|timer)$/.test(f)) : [];
};

describe("rendered user-data", () => {
  it(
    "is identical when rendered twice from the same plan",
    each((r) =>
      expect(
        renderUserData(r.plan, r.node, {
          volumeIds: Object.fromEntries(r.node.volumes.map((v, i) => [v.key, String(100000 + i)])),
        }),
      ).toBe(r.userData),
    ),
  );

  it(
    "fits Hetzner's 32 KiB user-data limit on every node",
    each((r) => {
      const size = Buffer.byteLength(r.userData);
      console.log(`user-data ${r.node.name} (${r.plan.stack}): ${size} bytes`);
      expect(size).toBeLessThanOrEqual(USER_DATA_LIMIT);
    }),
  );

  it(
    "passes cloud-init schema with empty stderr",
    each((r) => {
      const out = run("cloud-init", ["schema", "--config-file", path.join(r.dir, "user-data.yaml")]);
      expect(out.stderr).toBe("");
      expect(out.status).toBe(0);
    }),
  );

  it(
    "passes yamllint with the repository's documented config",
    each((r) => {
      const out = run("yamllint", [
        "-f",
        "parsable",
        "-c",
        path.join(ROOT, ".yamllint.yaml"),
        path.join(r.dir, "user-data.yaml"),
      ]);
      expect(out.stdout + out.stderr).toBe("");
      expect(out.status).toBe(0);
    }),
  );

  it(
    "unpacks (with the operations bundle) to exactly the planned files, as shipped",
    each((r) => {
      for (const f of [...nodeFiles(r.plan, r.node), ...opsFiles(r.plan, r.node)]) {
        expect(fs.readFileSync(path.join(r.dir, "root", f.path), "utf8"), f.path).toBe(
          f.early ? f.content : shipped(f).content,
        );
        if (!f.early)
          expect((fs.statSync(path.join(r.dir, "root", f.path)).mode & 0o777).toString(8), f.path).toBe(
            f.permissions.replace(/^0/, ""),
          );
      }
    }),
  );

  it(
    "installs the packages with service starts forbidden, and lifts that before bootstrap runs",
    each((r) => {
      const doc = parse(r.userData) as {
        write_files: { path: string; content: string; permissions: string }[];
        runcmd: string[][];
      };
      const policy = doc.write_files.find((f) => f.path === POLICY_RC_D);
      expect(policy?.permissions).toBe("0755");
      // Debian's contract: invoke-rc.d and deb-systemd-invoke start nothing while it exits 101.
      expect(spawnSync("sh", ["-c", policy!.content, "policy-rc.d", "postgresql", "start"]).status).toBe(101);
      expect(doc.runcmd[0]).toEqual(["rm", "-f", POLICY_RC_D]);
      expect(doc.runcmd.at(-1)!.join(" ")).toContain(libFile("bootstrap"));
    }),
  );

  it(
    "leaves volumes to xiopro-volumes, by their Hetzner ids, not to cloud-init's mounts",
    each((r) => {
      const doc = parse(r.userData) as { mounts?: unknown; write_files: { path: string; content: string }[] };
      expect(doc.mounts).toBeUndefined();
      const file = doc.write_files.find((f) => f.path === VOLUMES_PATH);
      if (r.node.volumes.length === 0) return void expect(file).toBeUndefined();
      const lines = file!.content.split("\n").filter((l) => l && !l.startsWith("#"));
      expect(lines).toEqual(
        r.node.volumes.map((v, i) => `${100000 + i} ${v.mountPoint} ${v.filesystem} ${v.attachTimeoutSeconds}`),
      );
    }),
  );
});

describe("systemd units", () => {
  it(
    "pass systemd-analyze verify with empty stderr",
    each((r) => {
      for (const u of unitsOf(r)) {
        const name = u.endsWith("@.service") ? u.replace("@.service", "@1.service") : u;
        const out = run("systemd-analyze", [
          "verify",
          "--man=no",
          `--root=${path.join(r.dir, "root")}`,
          `/etc/systemd/system/${u}`,
        ]);
        expect(out.stderr, `${r.node.name} ${name}`).toBe("");
        expect(out.status, name).toBe(0);
      }
    }),
  );

  it(
    "drop-ins for distro units pass systemd-analyze verify with the distro unit",
    each((r) => {
      const dir = path.join(r.dir, "root/etc/systemd/system");
      const parents = fs
        .readdirSync(dir)
        .filter((d) => d.endsWith(".service.d") && !d.includes("@"))
        .map((d) => d.replace(/\.d$/, ""));
      // Every parent is declared in scripts/tools.tsv, and shipped by its package unless the table
      // says no Debian package has it (then the node's own boot proves the drop-in).
      const declared = new Map(DISTRO_UNITS.map((row) => [row.name, row]));
      expect(
        parents.filter((u) => !declared.has(u)),
        `${r.node.name}: drop-in parents missing from scripts/tools.tsv`,
      ).toEqual([]);
      const checked = parents.filter((u) => declared.get(u)!.pkg !== "-");
      for (const u of checked)
        expect(
          fs.existsSync(path.join(r.dir, "root/usr/lib/systemd/system", u)),
          `${u} from package ${declared.get(u)!.pkg}`,
        ).toBe(true);
      // Every node has the node exporter, which shares its user with Alertmanager (no credentials).
      expect(checked).toContain("prometheus-node-exporter.service");
      for (const u of checked) {
        const out = run("systemd-analyze", ["verify", "--man=no", `--root=${path.join(r.dir, "root")}`, u]);
        // The distro's binaries are not in the test root; everything else must be clean.
        const stderr = out.stderr
          .split("\n")
          .filter((l) => l && !/: Command \/(usr\/)?s?bin\/\S+ is not executable: No such file or directory$/.test(l));
        expect(stderr, `${r.node.name} ${u}`).toEqual([]);
        expect(fs.readdirSync(path.join(dir, `${u}.d`)).join(" "), u).toMatch(/\.conf/);
      }
    }),
  );

  it(
    "score 2.0 or better in systemd-analyze security --offline",
    each((r) => {
      for (const u of unitsOf(r).filter((f) => f.endsWith(".service"))) {
        const out = run("systemd-analyze", [
          "security",
          "--offline=true",
          `--root=${path.join(r.dir, "root")}`,
          `/etc/systemd/system/${u}`,
        ]);
        const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(out.stdout);
        expect(m, `${u}: ${out.stderr}`).not.toBeNull();
        const score = Number(m![1]);
        if (r.plan.stack === "prd" || r.node.key !== "nodeA")
          scores.push(`  ${score.toFixed(1)}  ${u} (${r.node.name})`);
        expect(score, u).toBeLessThanOrEqual(2.0);
      }
    }),
  );

  it(
    "use only OnCalendar expressions systemd accepts",
    each((r) => {
      for (const u of unitsOf(r).filter((f) => f.endsWith(".timer"))) {
        const text = fs.readFileSync(path.join(r.dir, "root/etc/systemd/system", u), "utf8");
        const cal = /^OnCalendar=(.+)$/m.exec(text)?.[1];
        // A monotonic timer (the egress refresh) has no calendar to check, but must have its interval.
        if (cal === undefined) {
          expect(text, u).toMatch(/^OnUnitActiveSec=\S+$/m);
          continue;
        }
        const out = run("systemd-analyze", ["calendar", cal]);
        expect(out.stderr, `${u}: ${cal}`).toBe("");
        expect(out.status).toBe(0);
      }
    }),
  );

  it(
    "declare a SetCredential fallback for every encrypted credential",
    each((r) => {
      for (const u of unitsOf(r)) {
        const text = fs.readFileSync(path.join(r.dir, "root/etc/systemd/system", u), "utf8");
        const loads = [...text.matchAll(/^LoadCredentialEncrypted=([^:]+):/gm)].map((m) => m[1]);
        const sets = [...text.matchAll(new RegExp(`^SetCredential=([^:]+):${UNDELIVERED}$`, "gm"))].map((m) => m[1]);
        expect(sets, u).toEqual(loads);
      }
    }),
  );
});

describe("scripts and configs", () => {
  it(
    "pass shellcheck",
    each((r) => {
      const lib = path.join(r.dir, "root/usr/local/lib/xiopro");
      const scripts = fs
        .readdirSync(lib)
        .filter((f) => fs.statSync(path.join(lib, f)).isFile())
        .map((f) => path.join(lib, f));
      scripts.push(path.join(r.dir, "root/usr/local/bin/agentd-release"));
      const out = run("shellcheck", ["-x", "-P", lib, ...scripts.filter((s) => fs.existsSync(s))]);
      expect(out.stdout + out.stderr).toBe("");
      expect(out.status).toBe(0);
    }),
  );

  it(
    "skip agentd units (not fail them) until their credential files are in the store",
    each((r) => {
      const exec = path.join(r.dir, "root/usr/local/lib/xiopro/agentd-exec");
      const unit = path.join(r.dir, "root/etc/systemd/system/agentd-sweeper.service");
      if (!fs.existsSync(unit)) return;
      const cond = /^ExecCondition=\+\/usr\/local\/lib\/xiopro\/agentd-exec --credentials-ready(.*)$/m.exec(
        fs.readFileSync(unit, "utf8"),
      );
      expect(cond?.[1]?.trim()).toBe("pg-role-worker");
      const store = fs.mkdtempSync(path.join(os.tmpdir(), "credstore-"));
      const ready = () =>
        spawnSync("bash", [exec, "--credentials-ready", "pg-role-worker"], {
          encoding: "utf8",
          env: { ...process.env, ...layoutIn(store, { XIOPRO_CREDSTORE: store }) },
        });
      const before = ready();
      expect([before.status, before.stderr.trim()]).toEqual([
        1,
        "agentd-exec: waiting for credentials pg-role-worker (delivered by 'pulumi up', docs/secrets.md)",
      ]);
      fs.writeFileSync(path.join(store, "pg-role-worker"), "encrypted-blob");
      expect(ready().status).toBe(0);
      fs.rmSync(store, { recursive: true });
    }),
  );

  it(
    "skip the WAL receiver (not fail it) until its replication password is in the store",
    each((r) => {
      const unit = path.join(r.dir, "root/etc/systemd/system/xiopro-walreceiver.service");
      if (!fs.existsSync(unit)) return;
      const lib = path.join(r.dir, "root/usr/local/lib/xiopro");
      const cond = /^ExecCondition=\+\/usr\/local\/lib\/xiopro\/xiopro-walreceiver delivered (\S+)$/m.exec(
        fs.readFileSync(unit, "utf8"),
      );
      expect(cond?.[1]).toBe("/etc/credstore.encrypted/pg-role-walreceiver");
      const store = fs.mkdtempSync(path.join(os.tmpdir(), "credstore-"));
      const file = path.join(store, "pg-role-walreceiver");
      const env = {
        ...process.env,
        ...layoutIn(store, { XIOPRO_LIB: lib }),
        ...Object.fromEntries(
          fs
            .readFileSync(path.join(r.dir, "root/etc/xiopro/wal-receiver.env"), "utf8")
            .split("\n")
            .filter((l) => /^[A-Z_]+=/.test(l))
            .map((l) => l.split("=", 2)),
        ),
      };
      const delivered = () =>
        spawnSync("bash", [path.join(lib, "xiopro-walreceiver"), "delivered", file], { encoding: "utf8", env });
      const before = delivered();
      expect(before.status).toBe(1);
      expect(before.stderr).toContain(`the replication password (${file}) is not delivered yet`);
      fs.writeFileSync(file, "encrypted-blob");
      expect(delivered().status).toBe(0);
      fs.rmSync(store, { recursive: true });
      expect(r.node.name).toBe("tst-node-c");
    }),
  );

  it(
    "ship a bootstrap release that compiles",
    each((r) => {
      const agentd = path.join(r.dir, "root/usr/local/lib/xiopro/bootstrap-release/bin/agentd");
      if (!fs.existsSync(agentd)) return;
      const out = run("python3", ["-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())", agentd]);
      expect(out.stderr).toBe("");
    }),
  );

  it(
    "have a Caddyfile that caddy validate accepts",
    each((r) => {
      const file = path.join(r.dir, "root/etc/caddy/Caddyfile");
      if (!fs.existsSync(file)) return expect(r.node.services.some((s) => s.name === "ingress")).toBe(false);
      // caddy validate loads acme_ca_root: point it at the node's file inside the rendered root.
      const text = fs.readFileSync(file, "utf8");
      if (text.includes(ACME_CA_ROOT_FILE))
        fs.writeFileSync(file, text.replaceAll(ACME_CA_ROOT_FILE, path.join(r.dir, "root", ACME_CA_ROOT_FILE)));
      const out = run("caddy", ["validate", "--adapter", "caddyfile", "--config", file]);
      expect(out.stdout + out.stderr).toMatch(/Valid configuration/);
      expect(out.status).toBe(0);
    }),
  );

  it(
    "have an nftables ruleset that nft --check accepts",
    each((r) => {
      const out = run("nft", ["--check", "-f", path.join(r.dir, "root/etc/nftables.conf")]);
      expect(out.stderr).toBe("");
      expect(out.status).toBe(0);
    }),
  );
});
