// Generates Pulumi.yaml (its `config:` block) and docs/config.md from infra/config/keys.ts.
// `npm run gen:config-docs` writes them; test/config/docs.test.ts fails when they are stale.
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import type { z } from "zod";
import { CONFIG_KEYS, PROJECT, STACK_CONFIG } from "../infra/config/keys.js";
import { docOf, jsonSchemaOf, type FieldDoc } from "../infra/catalog/schema.js";
import { SERVICES_DOC, servicesMarkdown } from "../infra/plan/services-doc.js";

const ROOT = path.resolve(import.meta.dirname, "..");

const HEADER = `# Generated from infra/config/keys.ts by \`npm run gen:config-docs\`; edit that file, not this block.
name: ${PROJECT}
description: XIOPro platform on Hetzner Cloud (nodes, network, firewalls, DNS, volumes) from one pure plan
runtime:
  name: nodejs
  options:
    # The Node.js language host imports \`main\` in its automatic ESM mode (ts-node ESM hooks, tsconfig.json).
    typescript: true
    packagemanager: npm
main: infra/index.ts
`;

const isText = (doc: FieldDoc): boolean => doc.typeName === "string" || doc.typeName.startsWith('"');

function pulumiType(spec: FieldDoc): Record<string, unknown> {
  if (isText(spec)) return { type: "string" };
  if (spec.typeName === "integer") return { type: "integer" };
  if (spec.typeName === "boolean") return { type: "boolean" };
  if (spec.item && spec.typeName.endsWith("[]") && isText(docOf(spec.item)))
    return { type: "array", items: { type: "string" } };
  // Objects and lists of objects: Pulumi's project schema has no object type, so they stay untyped.
  return {};
}

export function pulumiYaml(): string {
  const config: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(CONFIG_KEYS)) {
    const spec = docOf(schema);
    const entry: Record<string, unknown> = {
      ...pulumiType(spec),
      description: describe(spec),
      ...(spec.secret ? { secret: true } : {}),
    };
    if (spec.defaultValue !== undefined) entry.default = spec.defaultValue;
    config[key] = entry;
  }
  return HEADER + stringify({ config }, { lineWidth: 0 });
}

function describe(spec: FieldDoc): string {
  if (spec.defaultValue !== undefined) return spec.description;
  return spec.optional ? `${spec.description} (optional)` : `${spec.description} (required)`;
}

function docRows(prefix: string, schema: z.core.$ZodType, rows: string[][]): void {
  const spec = docOf(schema);
  const def = spec.secret
    ? "secret: `pulumi config set --secret`"
    : spec.defaultValue === undefined
      ? spec.optional
        ? "—"
        : "**required**"
      : `\`${JSON.stringify(spec.defaultValue)}\``;
  rows.push([
    `\`${prefix}\``,
    `\`${spec.typeName.replace(/\|/g, "\\|")}\``,
    def,
    spec.description.replace(/\|/g, "\\|"),
  ]);
  if (spec.fields) for (const [k, f] of Object.entries(spec.fields)) docRows(`${prefix}.${k}`, f, rows);
  const itemFields = spec.item && docOf(spec.item).fields;
  if (itemFields) for (const [k, f] of Object.entries(itemFields)) docRows(`${prefix}[].${k}`, f, rows);
}

export function configMarkdown(): string {
  const rows: string[][] = [];
  for (const [key, schema] of Object.entries(CONFIG_KEYS)) docRows(`${PROJECT}:${key}`, schema, rows);
  return [
    "# Stack configuration reference",
    "",
    "Generated from `infra/config/keys.ts` by `npm run gen:config-docs`. `Pulumi.tst.yaml` is the worked",
    "example. Every key is validated before anything is declared; all problems are reported together,",
    "each with the key, the bad value and the fix. Set a value with `pulumi config set --path` or edit the",
    "stack file; secrets only with `pulumi config set --secret` (see docs/secrets.md).",
    "",
    `Editors: \`${STACK_SCHEMA_FILE}\` is the JSON Schema of a stack file (generated from the same table).`,
    "Start a new stack file with the line `Pulumi.tst.yaml` starts with,",
    `\`# yaml-language-server: $schema=./${STACK_SCHEMA_FILE}\`, and editors with the YAML language server`,
    "validate and complete it. The schema checks shapes, types, ranges and patterns; the rules between",
    "keys (addresses, catalog, production policy) are checked by `npm run plan` and `pulumi up`.",
    "",
    "| key | type | default | meaning |",
    "|---|---|---|---|",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
  ].join("\n");
}

/** Where the stack files' modeline points editors (YAML language server). */
export const STACK_SCHEMA_FILE = "schema/stack-config.schema.json";

/** A value the Pulumi CLI encrypted: `pulumi config set --secret`. */
const SECURE = {
  type: "object",
  properties: { secure: { type: "string", description: "Ciphertext written by `pulumi config set --secret`" } },
  required: ["secure"],
  additionalProperties: false,
};

/**
 * JSON Schema of a `Pulumi.<stack>.yaml`: the stack file keys Pulumi reads, and under `config:` every
 * `xiopro-infra:` key of the table (secrets only in their encrypted form). Other projects' keys
 * (providers such as `hcloud:`) stay open, but a misspelt key of ours is refused.
 */
export function stackFileSchema(): Record<string, unknown> {
  const { properties, required } = jsonSchemaOf(STACK_CONFIG) as {
    properties: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  const config: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(CONFIG_KEYS)) {
    const doc = docOf(schema);
    const own = properties[key]!;
    // A secret map (providerKeys) holds one ciphertext per entry; a secret string is one ciphertext.
    config[`${PROJECT}:${key}`] = !doc.secret
      ? own
      : doc.item
        ? { ...own, additionalProperties: SECURE }
        : { description: own.description, ...SECURE };
  }
  config["hcloud:token"] = { description: "Hetzner Cloud API token (or export HCLOUD_TOKEN)", ...SECURE };
  const ours = Object.keys(config).filter((k) => k.startsWith(`${PROJECT}:`));
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: `Pulumi stack file of ${PROJECT} (Pulumi.<stack>.yaml)`,
    description: `Generated from infra/config/keys.ts by \`npm run gen:config-docs\`; docs/config.md explains every key.`,
    type: "object",
    properties: {
      config: {
        type: "object",
        properties: config,
        required: (required ?? []).map((k) => `${PROJECT}:${k}`),
        propertyNames: { anyOf: [{ enum: ours }, { not: { pattern: `^${PROJECT}:` } }] },
      },
      secretsprovider: { type: "string" },
      encryptedkey: { type: "string" },
      encryptionsalt: { type: "string" },
      environment: {
        type: "array",
        items: { type: "string" },
        description: "Pulumi ESC environments imported by the stack",
      },
    },
    required: ["config"],
    additionalProperties: false,
  };
}

export const GENERATED: Record<string, () => string> = {
  "Pulumi.yaml": pulumiYaml,
  "docs/config.md": configMarkdown,
  [SERVICES_DOC]: servicesMarkdown,
  [STACK_SCHEMA_FILE]: () => `${JSON.stringify(stackFileSchema(), null, 2)}\n`,
};

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  for (const [file, gen] of Object.entries(GENERATED)) {
    fs.mkdirSync(path.dirname(path.join(ROOT, file)), { recursive: true });
    fs.writeFileSync(path.join(ROOT, file), gen());
    console.log(`wrote ${file}`);
  }
}
