// The golden plan: the offline plan's output trees (`npm run plan -- --out`) of prd, tst and the
// all-options variant, as one manifest of every file's SHA-256, mode and size. Refactors must leave
// it byte for byte as it is (test/plan/golden.test.ts); an intended change rewrites it with
//   npx tsx test/support/golden-plan.ts --write
// and its commit says why the plan changed.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../../scripts/lib/cli.js";
import { runPlan, writePlanOutputs } from "../../scripts/lib/offline-plan.js";

export const GOLDEN_MANIFEST = path.join(REPO_ROOT, "test/golden/plan.sha256");

/** Stack name → its stack file. */
const STACKS: Record<string, string> = {
  prd: path.join(REPO_ROOT, "Pulumi.prd.yaml"),
  tst: path.join(REPO_ROOT, "Pulumi.tst.yaml"),
  full: path.join(REPO_ROOT, "test/fixtures/stacks/Pulumi.full.yaml"),
};

function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

/** One line per file: `sha256 mode size stack/path`, sorted. */
export async function planManifest(): Promise<string[]> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "golden-plan-"));
  try {
    const lines: string[] = [];
    for (const [stack, file] of Object.entries(STACKS)) {
      const out = path.join(work, stack);
      writePlanOutputs(await runPlan(REPO_ROOT, stack, file), out);
      for (const rel of filesUnder(out)) {
        const full = path.join(out, rel);
        const bytes = fs.readFileSync(full);
        // Group and other write bits come from the umask, not the plan.
        const mode = (fs.statSync(full).mode & 0o755).toString(8).padStart(4, "0");
        lines.push(`${createHash("sha256").update(bytes).digest("hex")} ${mode} ${bytes.length} ${stack}/${rel}`);
      }
    }
    return lines;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  if (process.argv[2] !== "--write") {
    console.error("usage: npx tsx test/support/golden-plan.ts --write   (rewrites test/golden/plan.sha256)");
    process.exit(2);
  }
  void planManifest().then((lines) => {
    fs.mkdirSync(path.dirname(GOLDEN_MANIFEST), { recursive: true });
    fs.writeFileSync(GOLDEN_MANIFEST, `${lines.join("\n")}\n`);
    console.log(`wrote ${path.relative(REPO_ROOT, GOLDEN_MANIFEST)}: ${lines.length} files`);
  });
}
