// scripts/tools.tsv is the one place that says which package provides each command the suite and
// the product's scripts run (install-tools.sh installs from it). These tests keep it complete and
// true, so `npm test` passes on a machine nobody set up by hand.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import semver from "semver";
import { describe, expect, it } from "vitest";
import { packagesFor } from "../../infra/plan/packages.js";
import { planOf, ROOT } from "../support/helpers.js";
import { commandsInRepo } from "../support/commands.js";
import { toolRows, type ToolRow } from "../support/distro.js";

const rows = toolRows();
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
// Only directories that Debian packages own: not /usr/local, not a version manager's shims.
const SYSTEM_DIRS = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
const pgBinDirs = () =>
  fs.existsSync("/usr/lib/postgresql")
    ? fs.readdirSync("/usr/lib/postgresql").map((v) => `/usr/lib/postgresql/${v}/bin`)
    : [];

/** The packages dpkg says own a file, trying the /usr-merged spellings of its path. */
function owners(file: string): string[] {
  const real = fs.realpathSync(file);
  const spellings = [...new Set([file, real].flatMap((p) => [p, p.startsWith("/usr/") ? p.slice(4) : `/usr${p}`]))];
  const r = spawnSync("dpkg", ["-S", ...spellings], { encoding: "utf8" });
  return r.stdout
    .split("\n")
    .flatMap((l) => (/^diversion /.test(l) || !l.includes(": ") ? [] : l.slice(0, l.indexOf(": ")).split(", ")));
}

/** The first executable file named `cmd` in the system directories (and PostgreSQL's versioned bin). */
function locate(cmd: string): string | undefined {
  return [...SYSTEM_DIRS, ...pgBinDirs()].map((d) => path.join(d, cmd)).find((f) => fs.existsSync(f));
}

/** A package's direct (pre-)dependencies: a row may name the package that pulls in the file's owner. */
function depends(name: string): string[] {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Pre-Depends}, ${Depends}", name], { encoding: "utf8" });
  return r.stdout
    .split(/,\s*/)
    .map((d) => d.trim().split(/[\s:]/)[0]!)
    .filter(Boolean);
}

/** The problems with rows of kind `command` on this machine, one sentence each. */
function untrueRows(table: ToolRow[]): string[] {
  const out: string[] = [];
  for (const r of table.filter((x) => x.kind === "command" && x.pkg !== "-" && !x.pkg.startsWith("npm:"))) {
    const file = locate(r.name);
    if (!file)
      out.push(
        `scripts/tools.tsv:${r.line}: ${r.name} is not installed in ${SYSTEM_DIRS.join(", ")}; run: sudo bash scripts/install-tools.sh`,
      );
    else if (![r.pkg, ...depends(r.pkg)].some((p) => owners(file).includes(p)))
      out.push(
        `scripts/tools.tsv:${r.line}: ${file} belongs to ${owners(file).join(", ") || "no package"}, not ${r.pkg}`,
      );
  }
  return out;
}

describe("the tool table (scripts/tools.tsv)", () => {
  it("lists every command that the test suite and the product's scripts invoke", () => {
    const listed = new Set(rows.filter((r) => r.kind !== "unit").map((r) => r.name));
    const missing = new Map<string, string>();
    for (const i of commandsInRepo(ROOT))
      if (!listed.has(i.command) && !missing.has(i.command)) missing.set(i.command, `${i.file}:${i.line}`);
    expect([...missing].map(([c, where]) => `${c} (${where})`)).toEqual([]);
  });

  it("names each command and unit once, each with a reason", () => {
    const names = rows.map((r) => `${r.kind === "unit" ? "unit" : "command"} ${r.name}`);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    for (const r of rows) expect(r.why.length, `line ${r.line}`).toBeGreaterThan(5);
  });

  it("names for each command the Debian package that really provides it here", () => {
    expect(untrueRows(rows)).toEqual([]);
  });

  it("catches a row that names the wrong package (so the check above can fail)", () => {
    const wrong: ToolRow = { kind: "command", name: "tar", pkg: "coreutils", why: "a deliberate mistake", line: 999 };
    expect(untrueRows([wrong])).toEqual([`scripts/tools.tsv:999: ${locate("tar")} belongs to tar, not coreutils`]);
  });

  it("gives node-only commands a package that the nodes install or boot with", () => {
    // tst with its volumes formatted xfs: the packages a node gets only with such a volume.
    const xfs = planOf("tst", (c) => c.nodeA.volumes.forEach((v: Record<string, unknown>) => (v.filesystem = "xfs")));
    const nodePackages = new Set(
      [planOf("prd"), planOf("tst"), xfs].flatMap((p) => p.nodes.flatMap((n) => packagesFor(p, n))),
    );
    const image = spawnSync(
      "bash",
      ["-c", 'eval "$(sed -n "/^BASE_PACKAGES=(/,/)/p" test/vm/image.sh)"; printf "%s\\n" "${BASE_PACKAGES[@]}"'],
      { cwd: ROOT, encoding: "utf8" },
    );
    const base = new Set(image.stdout.split("\n").filter(Boolean));
    expect(base.has("cloud-init")).toBe(true);
    for (const r of rows.filter((x) => x.kind === "node" && x.pkg !== "-"))
      expect(nodePackages.has(r.pkg) || base.has(r.pkg), `${r.name}: ${r.pkg}`).toBe(true);
  });

  it("pins the npm packages it names to an exact version", () => {
    for (const r of rows.filter((x) => x.pkg.startsWith("npm:")))
      expect(pkg.devDependencies[r.pkg.slice(4)], r.name).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg.devDependencies.pulumi).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("refuses a malformed row and names its line", () => {
    expect(() => toolRows("# comment\ncommand\tjq\tjq\n")).toThrow(
      'scripts/tools.tsv:2: want four tab-separated fields "command|node|unit NAME PACKAGE WHY", got "command\\tjq\\tjq"',
    );
    expect(() => toolRows("tool\tjq\tjq\tJSON\n")).toThrow("scripts/tools.tsv:1: want four");
  });
});

describe("package.json", () => {
  it("declares one Node.js range, inside the range of every dependency that declares one", () => {
    const ours = pkg.engines.node;
    const outside = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).flatMap((d) => {
      const theirs = (
        JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", d, "package.json"), "utf8")) as {
          engines?: { node?: string };
        }
      ).engines?.node;
      return theirs && !semver.subset(ours, theirs) ? [`${d} wants ${theirs}`] : [];
    });
    expect(outside).toEqual([]);
    expect(semver.subset(">=20", ours)).toBe(false);
  });
});
