// The config boundary under random damage: valid stacks mutated at a random place (type swaps,
// boundary and non-finite numbers, Unicode and control characters, prototype keys, huge values,
// removed and duplicated entries). Whatever arrives, loading and planning never throw, and a
// refusal names keys that exist in the mutated stack (or keys of the config table it left out).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { renderUserData } from "../../cloud-init/render.js";
import type { z } from "zod";
import { CONFIG_KEYS } from "../../infra/config/keys.js";
import { docOf } from "../../infra/catalog/schema.js";
import { loadConfig } from "../../infra/config/load.js";
import { buildPlan } from "../../infra/plan/index.js";
import { stackObject, toRaw } from "../support/helpers.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path of a JSON value, as key/index lists, containers included. */
function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const here = [at];
  if (Array.isArray(v)) return here.concat(v.flatMap((x, i) => paths(x, [...at, i])));
  if (v !== null && typeof v === "object")
    return here.concat(Object.entries(v).flatMap(([k, x]) => paths(x, [...at, k])));
  return here;
}

const nasty = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    false,
    0,
    -1,
    1e308,
    -1e308,
    2 ** 53,
    0.5,
    "",
    " ",
    "constructor",
    "__proto__",
    "toString",
    "0.0.0.0/0",
    "::/0",
    "/",
    "../..",
    "%n",
    "${HOME}",
    "{{AGENTD_USER}}",
    "a\nb",
    "\u0000",
    "\u2028",
    "\ud800",
    "é",
    "😀",
  ),
  fc.double().map((d) => d as Json), // includes NaN and ±Infinity, as a YAML .nan/.inf would be
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }).map((n) => n as Json),
  fc.string({ unit: "binary", maxLength: 40 }).map((s) => s as Json),
  fc.string({ maxLength: 3 }).map((s) => s.repeat(20_000) as Json),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }).map((a) => a as Json),
  fc
    .dictionary(fc.constantFrom("constructor", "__proto__", "toString", "valueOf", "x"), fc.string({ maxLength: 5 }), {
      maxKeys: 2,
    })
    .map((d) => d as Json),
);

type Mutation =
  { kind: "set"; value: Json } | { kind: "delete" } | { kind: "duplicate" } | { kind: "rename"; to: string };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  nasty.map((value) => ({ kind: "set" as const, value })),
  fc.constant({ kind: "delete" as const }),
  fc.constant({ kind: "duplicate" as const }),
  fc
    .constantFrom("constructor", "__proto__", "toString", "hasOwnProperty", "x-unknown", "Domain")
    .map((to) => ({ kind: "rename" as const, to })),
);

/** Applies a mutation at a path (the root itself is left alone: a stack file is always a map). */
function mutate(root: { [k: string]: Json }, path: (string | number)[], m: Mutation): void {
  if (path.length === 0) return;
  const parent = path.slice(0, -1).reduce<Json>((v, k) => (v as Record<string | number, Json>)[k]!, root) as
    Record<string | number, Json> | Json[];
  const key = path[path.length - 1]!;
  const old = (parent as Record<string | number, Json>)[key]!;
  if (m.kind === "set") (parent as Record<string | number, Json>)[key] = m.value;
  else if (m.kind === "delete") {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete (parent as Record<string, Json>)[key];
  } else if (m.kind === "duplicate") {
    // A list gets the entry twice; a map cannot hold a key twice, so the value is written again.
    if (Array.isArray(parent)) parent.push(structuredClone(old));
    else
      Object.defineProperty(parent, `${key}`, {
        value: structuredClone(old),
        enumerable: true,
        writable: true,
        configurable: true,
      });
  } else if (!Array.isArray(parent)) {
    delete (parent as Record<string, Json>)[key];
    Object.defineProperty(parent, m.to, { value: old, enumerable: true, writable: true, configurable: true });
  }
}

/** The segments of a problem key below the project prefix: `nodeA.volumes[0].sizeGb` → nodeA, volumes, 0, sizeGb. */
const segments = (key: string): string[] => key.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== "");

/** Whether the path exists in the mutated stack, own keys and indexes only. */
function inFile(root: Json, parts: string[]): boolean {
  let at: Json | undefined = root;
  for (const p of parts) {
    if (at === null || typeof at !== "object" || !Object.hasOwn(at, p)) return false;
    at = (at as Record<string, Json>)[p];
  }
  return true;
}

/** Whether the path is a key of the config table: fields by name, list entries by index, map entries by any name. */
function inSchema(parts: string[]): boolean {
  if (!Object.hasOwn(CONFIG_KEYS, parts[0]!)) return false;
  let doc = docOf((CONFIG_KEYS as Record<string, z.core.$ZodType>)[parts[0]!]!);
  for (const p of parts.slice(1)) {
    const next: z.core.$ZodType | undefined = doc.fields
      ? Object.hasOwn(doc.fields, p)
        ? doc.fields[p]
        : undefined
      : doc.item;
    if (!next) return false;
    doc = docOf(next);
  }
  return true;
}

/**
 * Whether a problem key points into the mutated stack: the key is in the file (a bad or unknown
 * value), or it is a key of the config table the file left out (a required value, or one a
 * default relies on: without a backup block, the default repository kind s3 needs its endpoint).
 */
function namesAKeyOf(root: { [k: string]: Json }, key: string): boolean {
  if (!key.startsWith("xiopro-infra:")) return Object.hasOwn(root, key); // another namespace, named in full
  const parts = segments(key.slice("xiopro-infra:".length));
  return parts.length > 0 && (inFile(root, parts) || inSchema(parts));
}

describe("the config boundary under random damage", () => {
  for (const stack of ["tst", "prd"]) {
    it(`${stack}: never throws; a refusal names keys of the mutated stack, an acceptance plans and renders`, () => {
      const base = stackObject(stack) as { [k: string]: Json };
      const all = paths(base);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: all.length - 1 }), mutation, (i, m) => {
          const obj = structuredClone(base);
          mutate(obj, all[i]!, m);
          const r = loadConfig(toRaw(obj));
          if (!r.ok) {
            expect(r.problems.length).toBeGreaterThan(0);
            for (const p of r.problems) {
              expect(p.message).not.toMatch(/\n\s+at /); // no stack trace in a message
              expect(p.message).not.toMatch(/^is not valid: /); // every zod issue has a message of ours
              expect(namesAKeyOf(obj, p.key), `${p.key}: ${p.message}`).toBe(true);
            }
            return;
          }
          const plan = buildPlan(r.config, stack);
          for (const node of plan.nodes)
            renderUserData(plan, node, {
              volumeIds: Object.fromEntries(node.volumes.map((v, n) => [v.key, String(100000 + n)])),
            });
        }),
        { numRuns: 400, seed: Number(process.env.XIOPRO_FUZZ_SEED ?? 20261130) },
      );
    });
  }
});
