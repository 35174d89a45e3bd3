// Behaviour unchanged: the offline plan of prd, tst and the all-options variant (every file of
// `npm run plan -- --out`) must match test/golden/plan.sha256 byte for byte. A refactor leaves it
// alone; an intended change rewrites it (test/support/golden-plan.ts says how) in its own commit.
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { GOLDEN_MANIFEST, planManifest } from "../support/golden-plan.js";

describe("the golden plan", () => {
  it("prd, tst and the all-options variant plan to the recorded trees, file by file", async () => {
    const recorded = fs.readFileSync(GOLDEN_MANIFEST, "utf8").trimEnd().split("\n");
    const now = await planManifest();
    // Compared as sets of lines first, so a failure names the files that changed.
    expect(
      now.filter((l) => !recorded.includes(l)),
      "changed or new files (npm run plan -- --out, then diff against the last commit's)",
    ).toEqual([]);
    expect(
      recorded.filter((l) => !now.includes(l)),
      "files that are gone or changed",
    ).toEqual([]);
    expect(now.length).toBeGreaterThan(100);
  }, 120_000);
});
