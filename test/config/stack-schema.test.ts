// The generated JSON Schema of stack files, checked by a real JSON Schema validator (ajv, draft
// 2020-12): the example stacks pass, and what the config boundary refuses the schema refuses too.
import * as fs from "node:fs";
import * as path from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../infra/config/load.js";
import { STACK_SCHEMA_FILE } from "../../scripts/gen-config-docs.js";
import { ROOT } from "../support/helpers.js";

const schema = JSON.parse(fs.readFileSync(path.join(ROOT, STACK_SCHEMA_FILE), "utf8"));
const validate = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
const errorsOf = (doc: unknown): string[] =>
  validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
const stackDoc = (stack: string): { config: Record<string, unknown> } =>
  parse(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8"));

/** The example stack as Pulumi hands it to the program, with secrets set as secrets. */
function loaded(doc: { config: Record<string, unknown> }) {
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [k, v] of Object.entries(doc.config)) {
    const secure = typeof v === "object" && v !== null && "secure" in v;
    if (secure) secretKeys.add(k);
    values[k] = secure ? "[secret]" : typeof v === "string" ? v : JSON.stringify(v);
  }
  return loadConfig({ values, secretKeys }, { requireSecrets: false });
}

describe("stack file JSON Schema", () => {
  for (const stack of ["prd", "tst"]) {
    it(`Pulumi.${stack}.yaml is valid against ${STACK_SCHEMA_FILE} and carries the editor modeline`, () => {
      expect(errorsOf(stackDoc(stack))).toEqual([]);
      const first = fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8").split("\n")[0];
      expect(first).toBe(`# yaml-language-server: $schema=./${STACK_SCHEMA_FILE}`);
    });
  }

  it("refuses what the config boundary refuses: misspelt keys, wrong types, plain secrets, out-of-range numbers", () => {
    const doc = stackDoc("tst");
    const c = doc.config as Record<string, any>;
    c["xiopro-infra:domian"] = c["xiopro-infra:domain"];
    c["xiopro-infra:nodeA"].volumes[0].sizeGb = "big";
    c["xiopro-infra:nodeA"].serverTyp = "cpx22";
    c["xiopro-infra:backup"].archiveTimeoutSeconds = 0;
    c["xiopro-infra:resticPassword"] = "plain";
    c["hcloud:token"] = "plain";
    expect(errorsOf(doc)).toEqual([
      "/config must be equal to one of the allowed values",
      "/config must NOT be valid",
      "/config must match a schema in anyOf",
      "/config property name must be valid",
      "/config/xiopro-infra:nodeA must NOT have additional properties",
      "/config/xiopro-infra:nodeA/volumes/0/sizeGb must be integer",
      '/config/xiopro-infra:nodeA/volumes/0/sizeGb must match pattern "^-?\\d+$"',
      "/config/xiopro-infra:nodeA/volumes/0/sizeGb must match a schema in anyOf",
      "/config/xiopro-infra:backup/archiveTimeoutSeconds must be >= 1",
      "/config/xiopro-infra:backup/archiveTimeoutSeconds must be string",
      "/config/xiopro-infra:backup/archiveTimeoutSeconds must match a schema in anyOf",
      "/config/xiopro-infra:resticPassword must be object",
      "/config/hcloud:token must be object",
    ]);
    expect(loaded(doc).ok).toBe(false);
  });

  it("widens scalars to the text `pulumi config set --path` writes, once, also where a key is optional", () => {
    const volume = schema.properties.config.properties["xiopro-infra:nodeA"].properties.volumes.items.properties;
    expect(volume.protect).toEqual({
      description: "Delete protection and Pulumi protect for this volume (default: the stack's protection settings)",
      anyOf: [{ type: "boolean" }, { type: "string", enum: ["true", "false"] }],
    });
    expect(volume.sizeGb.anyOf).toEqual([
      { type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 },
      { type: "string", pattern: "^-?\\d+$" },
    ]);
  });

  it("accepts what the config boundary accepts: numbers and booleans as text, other projects' keys", () => {
    const doc = stackDoc("tst");
    const c = doc.config as Record<string, any>;
    c["xiopro-infra:nodeA"].volumes[0].sizeGb = "40";
    c["xiopro-infra:nodeA"].backups = "true";
    c["hcloud:endpoint"] = "https://api.hetzner.cloud/v1";
    expect(errorsOf(doc)).toEqual([]);
    expect(loaded(doc).ok).toBe(true);
  });
});
