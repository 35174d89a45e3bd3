// Generates Pulumi.yaml (its `config:` block) and docs/config.md from infra/config/keys.ts.
// `npm run gen:config-docs` writes them; test/config-docs.test.ts fails when they are stale.
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { CONFIG_KEYS, PROJECT } from "../infra/config/keys";
import type { Spec } from "../infra/config/schema-kit";

const ROOT = path.resolve(__dirname, "..");

const HEADER = `# Generated from infra/config/keys.ts by \`npm run gen:config-docs\`; edit that file, not this block.
name: ${PROJECT}
description: XIOPro platform on Hetzner Cloud (nodes, network, firewalls, DNS, volumes) from one pure plan
runtime:
  name: nodejs
  options:
    # The Node.js language host loads \`main\` with ts-node and tsconfig.json (CommonJS).
    typescript: true
    packagemanager: npm
main: infra/index.ts
`;

function pulumiType(spec: Spec<unknown>): Record<string, unknown> {
  if (spec.typeName === "string" || spec.typeName.startsWith('"')) return { type: "string" };
  if (spec.typeName === "integer") return { type: "integer" };
  if (spec.typeName === "boolean") return { type: "boolean" };
  if (spec.item && spec.typeName.endsWith("[]") && (spec.item.typeName === "string" || spec.item.typeName.startsWith('"'))) return { type: "array", items: { type: "string" } };
  // Objects and lists of objects: Pulumi's project schema has no object type, so they stay untyped.
  return {};
}

export function pulumiYaml(): string {
  const config: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(CONFIG_KEYS) as [string, Spec<unknown>][]) {
    const entry: Record<string, unknown> = { ...pulumiType(spec), description: describe(spec), ...(spec.secret ? { secret: true } : {}) };
    if (spec.defaultValue !== undefined) entry.default = spec.defaultValue;
    config[key] = entry;
  }
  return HEADER + stringify({ config }, { lineWidth: 0 });
}

function describe(spec: Spec<unknown>): string {
  if (spec.defaultValue !== undefined) return spec.description;
  return spec.optional ? `${spec.description} (optional)` : `${spec.description} (required)`;
}

function docRows(prefix: string, spec: Spec<unknown>, rows: string[][]): void {
  const def = spec.secret ? "secret: `pulumi config set --secret`" : spec.defaultValue === undefined ? (spec.optional ? "—" : "**required**") : `\`${JSON.stringify(spec.defaultValue)}\``;
  rows.push([`\`${prefix}\``, `\`${spec.typeName.replace(/\|/g, "\\|")}\``, def, spec.description.replace(/\|/g, "\\|")]);
  if (spec.fields) for (const [k, f] of Object.entries(spec.fields)) docRows(`${prefix}.${k}`, f, rows);
  if (spec.item?.fields) for (const [k, f] of Object.entries(spec.item.fields)) docRows(`${prefix}[].${k}`, f, rows);
}

export function configMarkdown(): string {
  const rows: string[][] = [];
  for (const [key, spec] of Object.entries(CONFIG_KEYS) as [string, Spec<unknown>][]) docRows(`${PROJECT}:${key}`, spec, rows);
  return [
    "# Stack configuration reference",
    "",
    "Generated from `infra/config/keys.ts` by `npm run gen:config-docs`. `Pulumi.tst.yaml` is the worked",
    "example. Every key is validated before anything is declared; all problems are reported together,",
    "each with the key, the bad value and the fix. Set a value with `pulumi config set --path` or edit the",
    "stack file; secrets only with `pulumi config set --secret` (see docs/secrets.md).",
    "",
    "| key | type | default | meaning |",
    "|---|---|---|---|",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
  ].join("\n");
}

export const GENERATED: Record<string, () => string> = {
  "Pulumi.yaml": pulumiYaml,
  "docs/config.md": configMarkdown,
};

if (require.main === module) {
  for (const [file, gen] of Object.entries(GENERATED)) {
    fs.mkdirSync(path.dirname(path.join(ROOT, file)), { recursive: true });
    fs.writeFileSync(path.join(ROOT, file), gen());
    console.log(`wrote ${file}`);
  }
}
