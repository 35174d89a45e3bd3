// Template files (units/, cloud-init/files/) with `{{NAME}}` placeholders and `{{>fragment}}`
// includes from units/fragments/. Filling is strict: a placeholder without a value, or a value
// nobody asked for, is an error, so a template and its renderer cannot drift apart silently.
// The node's layout (`{{XIOPRO_LIB}}`, `{{XIOPRO_STATE_DIR}}`, … from infra/catalog/layout.ts) is
// always available and never counts as unused.
import * as fs from "node:fs";
import * as path from "node:path";
import { NODE_LAYOUT } from "../infra/catalog/layout.js";

/** Repository root, found from this file, never from the working directory. */
export const REPO_ROOT = path.resolve(import.meta.dirname, "..");

const cache = new Map<string, string>();

export function readTemplate(relPath: string): string {
  let text = cache.get(relPath);
  if (text === undefined) {
    text = fs.readFileSync(path.join(REPO_ROOT, relPath), "utf8");
    cache.set(relPath, text);
  }
  return text;
}

export class TemplateError extends Error {}

export function fill(relPath: string, vars: Record<string, string | number>): string {
  const withIncludes = readTemplate(relPath).replace(/^\{\{>([a-z0-9-]+)\}\}\n/gm, (_m, name: string) =>
    readTemplate(`units/fragments/${name}.conf`).replace(/^#.*\n/gm, ""),
  );
  const used = new Set<string>();
  const out = withIncludes.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_m, key: string) => {
    if (key in vars) {
      used.add(key);
      return String(vars[key]);
    }
    if (key in NODE_LAYOUT) return NODE_LAYOUT[key as keyof typeof NODE_LAYOUT];
    throw new TemplateError(`${relPath}: no value for {{${key}}}`);
  });
  const unused = Object.keys(vars).filter((k) => !used.has(k));
  if (unused.length > 0) throw new TemplateError(`${relPath}: values given but not used: ${unused.join(", ")}`);
  const leftover = /\{\{[^}]*\}\}/.exec(out);
  if (leftover) throw new TemplateError(`${relPath}: malformed placeholder ${leftover[0]}`);
  // An empty credential block leaves a blank line; drop runs of blank lines.
  return out.replace(/\n{3,}/g, "\n\n");
}

/** Picks the values a template uses from a larger dictionary (for shared variable sets). */
export function fillFrom(relPath: string, all: Record<string, string | number>): string {
  const wanted = new Set([...readTemplate(relPath).matchAll(/\{\{([A-Z0-9_]+)\}\}/g)].map((m) => m[1]!));
  return fill(relPath, Object.fromEntries(Object.entries(all).filter(([k]) => wanted.has(k))));
}
