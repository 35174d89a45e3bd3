import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS } from "../../infra/config/keys.js";
import { docOf } from "../../infra/catalog/schema.js";
import { GENERATED } from "../../scripts/gen-config-docs.js";
import { ROOT } from "../support/helpers.js";

describe("generated config documentation", () => {
  for (const [file, gen] of Object.entries(GENERATED)) {
    it(`${file} matches infra/config/keys.ts (run npm run gen:config-docs)`, () => {
      expect(fs.readFileSync(path.join(ROOT, file), "utf8")).toBe(gen());
    });
  }

  it("documents every config key in Pulumi.yaml with a description, and a default unless required", () => {
    const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    expect(Object.keys(project.config).sort()).toEqual(Object.keys(CONFIG_KEYS).sort());
    for (const [key, entry] of Object.entries<any>(project.config)) {
      expect(entry.description, key).toMatch(/\S/);
      const spec = docOf((CONFIG_KEYS as any)[key]);
      if (spec.defaultValue === undefined) expect(entry.description, key).toMatch(/\((required|optional)\)$/);
      else expect(entry.default, key).toEqual(spec.defaultValue);
    }
  });

  it("declares only types Pulumi's project schema knows", () => {
    const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    for (const entry of Object.values<any>(project.config)) {
      if (entry.type !== undefined) expect(["string", "integer", "boolean", "array"]).toContain(entry.type);
      if (entry.type === "array") expect(entry.items).toEqual({ type: "string" });
    }
  });
});
