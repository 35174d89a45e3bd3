// The table of tools and distro files (scripts/tools.tsv) and the distro packages that
// scripts/install-tools.sh unpacks into a cache: tests read distro files from there, never from
// whatever happens to be installed on the build machine.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ROOT } from "./helpers.js";

export interface ToolRow {
  kind: "command" | "node" | "unit";
  name: string;
  /** The Debian package, or "-" for a file that no Debian package ships (the reason says why). */
  pkg: string;
  why: string;
  line: number;
}

export const TOOLS_TABLE = path.join(ROOT, "scripts/tools.tsv");

/** The rows of scripts/tools.tsv; throws naming the line of a malformed row. */
export function toolRows(text = fs.readFileSync(TOOLS_TABLE, "utf8")): ToolRow[] {
  return text.split("\n").flatMap((l, i) => {
    if (l === "" || l.startsWith("#")) return [];
    const [kind, name, pkg, why, ...rest] = l.split("\t");
    if ((kind !== "command" && kind !== "node" && kind !== "unit") || !name || !pkg || !why || rest.length > 0)
      throw new Error(
        `scripts/tools.tsv:${i + 1}: want four tab-separated fields "command|node|unit NAME PACKAGE WHY", got ${JSON.stringify(l)}`,
      );
    return [{ kind, name, pkg, why, line: i + 1 }];
  });
}

/** Where install-tools.sh unpacks distro packages (the same rule as the script). */
export function distroCache(): string {
  return (
    process.env.XIOPRO_DISTRO_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "xiopro-infra/distro")
  );
}

/** The unpacked tree of a distro package; throws with the fix when install-tools has not run. */
export function unpackedPackage(pkg: string): string {
  const dir = path.join(distroCache(), pkg);
  if (!fs.existsSync(path.join(dir, ".version")))
    throw new Error(`distro package ${pkg} is not unpacked in ${distroCache()}; run: bash scripts/install-tools.sh`);
  return dir;
}

/** The systemd unit files a package ships, by name (Debian 12 keeps them in /lib, later in /usr/lib). */
export function packageUnits(pkg: string): Map<string, string> {
  const root = unpackedPackage(pkg);
  const out = new Map<string, string>();
  for (const dir of ["lib/systemd/system", "usr/lib/systemd/system"]) {
    const d = path.join(root, dir);
    if (!fs.existsSync(d)) continue;
    for (const f of fs.readdirSync(d)) out.set(f, path.join(d, f));
  }
  return out;
}
