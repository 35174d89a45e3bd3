// Real-service tests need real tools. `npm test` installs them first (scripts/install-tools.sh), so
// there, in CI and in test:fresh a missing tool fails the suite with its name; only a developer
// running vitest directly on a bare machine gets a skip, and is told what is missing.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "vitest";

export const STRICT = process.env.CI === "true" || process.env.XIOPRO_REQUIRE_TOOLS === "1";

export type { Needs } from "../../lab/needs.js";
import type { Needs } from "../../lab/needs.js";

const onPath = (cmd: string) =>
  (process.env.PATH ?? "").split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

/** What of `needs` this machine lacks, one phrase each (empty when everything is there). */
export function missingTools(needs: Needs): string[] {
  return [
    ...(needs.commands ?? []).filter((c) => !onPath(c)).map((c) => `command ${c}`),
    ...(needs.paths ?? []).filter((p) => !fs.existsSync(p)).map((p) => `path ${p}`),
    ...(needs.root && process.getuid?.() !== 0 ? ["root (uid 0)"] : []),
  ];
}

/** `describe` that runs only with its tools present: a failure naming them when STRICT, else a skip. */
export function describeWithTools(title: string, needs: Needs, body: () => void): void {
  const missing = missingTools(needs);
  if (missing.length === 0) return void describe(title, body);
  const why = `missing ${missing.join(", ")} (run: sudo bash scripts/install-tools.sh)`;
  if (STRICT) {
    describe(title, () => {
      it("has the tools it needs", () => {
        throw new Error(why);
      });
    });
    return;
  }
  console.warn(`skipped "${title}": ${why}`);
  describe.skip(title, body);
}
