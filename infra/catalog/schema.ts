// Stack config schema on zod 4: each builder returns a real zod schema (validation, defaults, JSON
// Schema) and records the field's documentation beside it. Parsing never throws; every zod issue
// becomes a Problem that names the key, the bad value and the fix.
import { z } from "zod";

export interface Problem {
  /** Full config path, e.g. `xiopro-infra:nodeA.volumes[0].sizeGb`. */
  key: string;
  /** What is wrong, including the offending value. */
  message: string;
  /** What to do about it. */
  fix: string;
}

export class Problems {
  readonly list: Problem[] = [];
  add(key: string, message: string, fix: string): void {
    this.list.push({ key, message, fix });
  }
  get empty(): boolean {
    return this.list.length === 0;
  }
}

/** A record's own entry for a key taken from config (never an inherited one such as `constructor`). */
export const own = <T>(rec: Record<string, T>, key: string): T | undefined =>
  Object.hasOwn(rec, key) ? rec[key] : undefined;

/** Renders a value for an error message: short, unambiguous, never multi-line. */
export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** What docs/config.md and Pulumi.yaml say about a field. */
export interface FieldDoc {
  description: string;
  /** Type as the docs print it: `string`, `integer`, `"a" | "b"`, `object`, `map of string`, ... */
  typeName: string;
  /** The documented default; `undefined` means required (unless optional). */
  defaultValue?: unknown;
  optional: boolean;
  /** Must be set with `pulumi config set --secret`. */
  secret?: boolean;
  /** Objects: their fields. */
  fields?: Readonly<Record<string, z.core.$ZodType>>;
  /** Lists and maps: their item. */
  item?: z.core.$ZodType;
  /** Strings Pulumi's CLI may hand over for this scalar (`config set --path` stores text). */
  acceptsText?: "integer" | "boolean";
}

const docs = new WeakMap<z.core.$ZodType, FieldDoc>();

export function docOf(schema: z.core.$ZodType): FieldDoc {
  const doc = docs.get(schema);
  if (!doc) throw new Error("schema without documentation: build it with infra/catalog/schema.ts");
  return doc;
}

function documented<S extends z.ZodType>(schema: S, doc: FieldDoc): S {
  docs.set(schema, doc);
  return schema;
}

// A zod error message carries both halves of a Problem; toProblems splits them again.
const SEP = "\u001f";
const say = (message: string, fix: string): string => `${message}${SEP}${fix}`;
const absent = (input: unknown): boolean => input === undefined || input === null;

type Opts<T> = { description: string; default?: T; optional?: boolean; secret?: boolean };

/** A type-level error: "required" when nothing is there, else the builder's own message. */
function typeError(description: string, wrong: (input: unknown) => string, fix: string) {
  return (iss: { input?: unknown }) =>
    absent(iss.input)
      ? say("is required but not set", `set it in the stack file (see docs/config.md: ${description})`)
      : say(wrong(iss.input), fix);
}

/** Defaults go through the parser (zod's prefault), so nested defaults of an object default apply. */
function withDefault<S extends z.ZodType>(schema: S, o: Opts<unknown>) {
  return o.default === undefined ? schema : schema.prefault(o.default as never);
}

export function str<const T extends string = string>(
  o: Omit<Opts<T>, "default"> & { default?: NoInfer<T>; pattern?: RegExp; patternHint?: string; oneOf?: readonly T[] },
) {
  const typeName = o.oneOf ? o.oneOf.map((v) => JSON.stringify(v)).join(" | ") : "string";
  const error = typeError(o.description, (v) => `expected a string, got ${show(v)}`, "set it to a quoted string");
  let schema: z.ZodType<T>;
  if (o.oneOf) {
    const allowed = o.oneOf as readonly string[] as [string, ...string[]];
    schema = z.enum(allowed, {
      error: (iss) =>
        iss.code === "invalid_value" && typeof iss.input === "string"
          ? say(`${show(iss.input)} is not allowed`, `use one of ${allowed.join(", ")}`)
          : error(iss),
    }) as unknown as z.ZodType<T>;
  } else {
    let s = z.string({ error });
    if (o.pattern)
      s = s.regex(o.pattern, {
        error: (iss) => say(`${show(iss.input)} is not valid`, o.patternHint ?? `match ${o.pattern}`),
      });
    schema = s as unknown as z.ZodType<T>;
  }
  return documented(withDefault(schema, o) as z.ZodType<T>, {
    description: o.description,
    typeName,
    defaultValue: o.default,
    optional: false,
    secret: o.secret,
  });
}

const WHOLE_NUMBER_TEXT = /^-?\d+$/;

export function int(o: Opts<number> & { min?: number; max?: number; unit?: string }) {
  const unit = o.unit ? ` ${o.unit}` : "";
  const range = `use a value from ${o.min ?? "-inf"} to ${o.max ?? "inf"}${unit}`;
  let n = z.int({
    error: (iss) =>
      iss.code === "too_big" || iss.code === "too_small"
        ? say(`${show(iss.input)} is out of range`, range)
        : typeError(
            o.description,
            (v) => `expected a whole number, got ${show(v)}`,
            `set it to an integer${o.unit ? ` (${o.unit})` : ""}`,
          )(iss),
  });
  if (o.min !== undefined) n = n.min(o.min, { error: (iss) => say(`${show(iss.input)} is out of range`, range) });
  if (o.max !== undefined) n = n.max(o.max, { error: (iss) => say(`${show(iss.input)} is out of range`, range) });
  const schema = z.preprocess((v) => (typeof v === "string" && WHOLE_NUMBER_TEXT.test(v) ? Number(v) : v), n);
  return documented(withDefault(schema, o) as z.ZodType<number>, {
    description: o.description,
    typeName: "integer",
    defaultValue: o.default,
    optional: false,
    secret: o.secret,
    acceptsText: "integer",
  });
}

export function bool(o: Opts<boolean>) {
  const b = z.boolean({
    error: typeError(o.description, (v) => `expected true or false, got ${show(v)}`, "set it to true or false"),
  });
  const schema = z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), b);
  return documented(withDefault(schema, o) as z.ZodType<boolean>, {
    description: o.description,
    typeName: "boolean",
    defaultValue: o.default,
    optional: false,
    secret: o.secret,
    acceptsText: "boolean",
  });
}

export function arr<S extends z.ZodType>(item: S, o: Opts<z.output<S>[]> & { minItems?: number; maxItems?: number }) {
  const itemType = docOf(item).typeName;
  let a = z.array(item, {
    error: typeError(o.description, (v) => `expected a list, got ${show(v)}`, "write it as a YAML list"),
  });
  if (o.minItems !== undefined)
    a = a.min(o.minItems, {
      error: (iss) => say(`has ${(iss.input as unknown[]).length} entries`, `give at least ${o.minItems}`),
    });
  if (o.maxItems !== undefined)
    a = a.max(o.maxItems, {
      error: (iss) => say(`has ${(iss.input as unknown[]).length} entries`, `give at most ${o.maxItems}`),
    });
  return documented(withDefault(a, o) as z.ZodType<z.output<S>[]>, {
    description: o.description,
    typeName: `${itemType.includes(" | ") ? `(${itemType})` : itemType}[]`,
    defaultValue: o.default,
    optional: false,
    secret: o.secret,
    item,
  });
}

/** A map with free-form keys (labels, environment, per-provider secrets). */
export function record<S extends z.ZodType>(
  item: S,
  o: Opts<Record<string, z.output<S>>> & { keyPattern?: RegExp; keyHint?: string },
) {
  const key = o.keyPattern
    ? z.string().regex(o.keyPattern, {
        error: (iss) => say(`key ${show(iss.input)} is not valid`, o.keyHint ?? `keys must match ${o.keyPattern}`),
      })
    : z.string();
  const r = z.record(key, item, {
    error: typeError(o.description, (v) => `expected a map, got ${show(v)}`, "write it as a YAML mapping (key: value)"),
  });
  return documented(withDefault(r, o) as z.ZodType<Record<string, z.output<S>>>, {
    description: o.description,
    typeName: `map of ${docOf(item).typeName}`,
    defaultValue: o.default,
    optional: false,
    secret: o.secret,
    item,
  });
}

const KNOWN_KEYS = "known keys";

export function obj<F extends z.ZodRawShape>(fields: F, o: Opts<z.input<z.ZodObject<F>>>) {
  const names = Object.keys(fields);
  const wrong = typeError(
    o.description,
    (v) => `expected a mapping, got ${show(v)}`,
    `write it as a YAML mapping with keys ${names.join(", ")}`,
  );
  const schema = z.strictObject(fields, {
    // One issue lists every unknown key; toProblems turns it into one Problem per key.
    error: (iss) => (iss.code === "unrecognized_keys" ? say(KNOWN_KEYS, names.join("\n")) : wrong(iss)),
  });
  return documented(
    withDefault(schema, o as Opts<unknown>) as unknown as z.ZodType<z.output<z.ZodObject<F, z.core.$strict>>>,
    {
      description: o.description,
      typeName: "object",
      defaultValue: o.default,
      optional: false,
      secret: o.secret,
      fields,
    },
  );
}

/** One of several shapes; a value that matches one shape's type is judged by that shape alone. */
export function either<A extends z.ZodType, B extends z.ZodType>(
  a: A,
  b: B,
  o: { description: string; typeName: string; wrong: (v: unknown) => string; fix: string },
) {
  const schema = z.union([a, b], { error: typeError(o.description, o.wrong, o.fix) });
  // The docs list the fields of whichever shape is a mapping (a custom service's name and interfaces).
  const fields = docOf(a).fields ?? docOf(b).fields;
  return documented(schema as z.ZodType<z.output<A> | z.output<B>>, {
    description: o.description,
    typeName: o.typeName,
    optional: false,
    fields,
  });
}

/** Absent means `undefined`, not an error. */
export function optional<S extends z.ZodType>(schema: S) {
  // acceptsText stays with the inner schema, which the JSON Schema already widens.
  return documented(schema.optional(), { ...docOf(schema), optional: true, acceptsText: undefined });
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

/** `key:` with nothing after it means "not set" in a stack file: drop it so defaults apply. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (typeof value !== "object" || value === null) return value;
  // No prototype: a key named "__proto__" or "constructor" stays an ordinary (unknown) key.
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = withoutNulls(v);
  return out;
}

/** Parses `value`; `root` and `joiner` spell the key of the top level (`xiopro-infra` and `:`). */
export function parse<S extends z.ZodType>(schema: S, value: unknown, root: string, joiner = "."): Parsed<z.output<S>> {
  const result = schema.safeParse(withoutNulls(value), { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  // Unknown keys first, outermost first: a misspelt key explains the "required" problem it causes.
  const problems = toProblems(result.error.issues, [], root, joiner);
  const unknown = problems.filter((p) => p.message === UNKNOWN_KEY).sort((a, b) => depth(a.key) - depth(b.key));
  return { ok: false, problems: [...unknown, ...problems.filter((p) => p.message !== UNKNOWN_KEY)] };
}

const UNKNOWN_KEY = "is not a known key";
const depth = (key: string): number => key.split(/[.[]/).length;

function keyOf(path: readonly PropertyKey[], root: string, joiner: string): string {
  return path.reduce<string>(
    (key, seg, i) => (typeof seg === "number" ? `${key}[${seg}]` : `${key}${i === 0 ? joiner : "."}${String(seg)}`),
    root,
  );
}

function toProblems(
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly PropertyKey[],
  root: string,
  joiner: string,
): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === "invalid_union") {
      // The shape whose type matched says what is wrong inside it (a custom service with a bad port).
      const matched = issue.errors.filter((arm) => !arm.every((i) => i.code === "invalid_type" && i.path.length === 0));
      if (matched.length === 1) return toProblems(matched[0]!, path, root, joiner);
    }
    if (issue.code === "invalid_key") return toProblems(issue.issues, path, root, joiner);
    const sep = issue.message.indexOf(SEP);
    if (sep < 0)
      return [{ key: keyOf(path, root, joiner), message: `is not valid: ${issue.message}`, fix: "see docs/config.md" }];
    const message = issue.message.slice(0, sep);
    const fix = issue.message.slice(sep + 1);
    if (issue.code === "unrecognized_keys" && message === KNOWN_KEYS) {
      const known = fix.split("\n");
      return issue.keys.map((k) => {
        const guess = closest(k, known);
        return {
          key: keyOf([...path, k], root, joiner),
          message: UNKNOWN_KEY,
          fix: guess
            ? `did you mean "${guess}"? Known keys: ${known.join(", ")}`
            : `remove it; known keys: ${known.join(", ")}`,
        };
      });
    }
    return [{ key: keyOf(path, root, joiner), message, fix }];
  });
}

/** JSON Schema (draft 2020-12) of what a stack file may hold for `schema`, for editors and ajv. */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    io: "input",
    target: "draft-2020-12",
    override: ({ zodSchema, jsonSchema }) => {
      const doc = docs.get(zodSchema);
      if (!doc) return;
      if (doc.description) jsonSchema.description = doc.description;
      if (doc.acceptsText) {
        // `pulumi config set --path` stores scalars as text: "3" and "true" are as good as 3 and true.
        const { default: dflt, description, ...typed } = jsonSchema;
        for (const k of Object.keys(jsonSchema)) delete jsonSchema[k];
        Object.assign(jsonSchema, {
          ...(description === undefined ? {} : { description }),
          ...(dflt === undefined ? {} : { default: dflt }),
          anyOf: [
            typed,
            doc.acceptsText === "integer"
              ? { type: "string", pattern: WHOLE_NUMBER_TEXT.source }
              : { type: "string", enum: ["true", "false"] },
          ],
        });
      }
    },
  }) as Record<string, unknown>;
}

/** Closest candidate by edit distance, when the typo is plausible (≤ 2 edits or a case slip). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
