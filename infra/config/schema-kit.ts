// A small schema kit for stack config: every field carries its description and default,
// parsing never throws, and every problem names the key, the bad value and the fix.
// One spec drives three things: validation, defaults, and the generated docs/Pulumi.yaml.

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

/** Renders a value for an error message: short, unambiguous, never multi-line. */
export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export interface ParseContext {
  problems: Problems;
}

export interface Spec<T> {
  /** Human description (documentation and Pulumi.yaml). */
  description: string;
  /** JSON-ish type name for docs. */
  typeName: string;
  /** Default used when the value is absent; `undefined` means required (unless optional). */
  defaultValue?: T;
  optional: boolean;
  /** Parse a present value. Returns undefined after recording a problem. */
  parse(value: unknown, path: string, ctx: ParseContext): T | undefined;
  /** For objects: field specs, used for docs and unknown-key detection. */
  fields?: Record<string, Spec<unknown>>;
  /** For arrays: the item spec (docs). */
  item?: Spec<unknown>;
  /** Must be set with `pulumi config set --secret` (Pulumi.yaml marks it secret). */
  secret?: boolean;
}

type Opts<T> = { description: string; default?: T; optional?: boolean; secret?: boolean };

function base<T>(typeName: string, o: Opts<T>, parse: Spec<T>["parse"]): Spec<T> {
  return { description: o.description, typeName, defaultValue: o.default, optional: o.optional ?? false, parse, secret: o.secret };
}

export function str<const T extends string = string>(o: Opts<T> & { pattern?: RegExp; patternHint?: string; oneOf?: readonly T[] }): Spec<T> {
  const typeName = o.oneOf ? o.oneOf.map((v) => JSON.stringify(v)).join(" | ") : "string";
  return base<T>(typeName, o, (value, path, { problems }) => {
    if (typeof value !== "string") {
      problems.add(path, `expected a string, got ${show(value)}`, `set it to a quoted string`);
      return undefined;
    }
    if (o.oneOf && !(o.oneOf as readonly string[]).includes(value)) {
      problems.add(path, `${show(value)} is not allowed`, `use one of ${o.oneOf.join(", ")}`);
      return undefined;
    }
    if (o.pattern && !o.pattern.test(value)) {
      problems.add(path, `${show(value)} is not valid`, o.patternHint ?? `match ${o.pattern}`);
      return undefined;
    }
    return value as T;
  });
}

export function int(o: Opts<number> & { min?: number; max?: number; unit?: string }): Spec<number> {
  return base("integer", o, (value, path, { problems }) => {
    const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== "number" || !Number.isInteger(n)) {
      problems.add(path, `expected a whole number, got ${show(value)}`, `set it to an integer${o.unit ? ` (${o.unit})` : ""}`);
      return undefined;
    }
    if ((o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
      problems.add(path, `${n} is out of range`, `use a value from ${o.min ?? "-inf"} to ${o.max ?? "inf"}${o.unit ? ` ${o.unit}` : ""}`);
      return undefined;
    }
    return n;
  });
}

export function bool(o: Opts<boolean>): Spec<boolean> {
  return base("boolean", o, (value, path, { problems }) => {
    if (value === true || value === "true") return true;
    if (value === false || value === "false") return false;
    problems.add(path, `expected true or false, got ${show(value)}`, "set it to true or false");
    return undefined;
  });
}

export function arr<T>(item: Spec<T>, o: Opts<T[]> & { minItems?: number; maxItems?: number }): Spec<T[]> {
  const spec = base<T[]>(`${item.typeName.includes(" | ") ? `(${item.typeName})` : item.typeName}[]`, o, (value, path, ctx) => {
    if (!Array.isArray(value)) {
      ctx.problems.add(path, `expected a list, got ${show(value)}`, "write it as a YAML list");
      return undefined;
    }
    if (o.minItems !== undefined && value.length < o.minItems) {
      ctx.problems.add(path, `has ${value.length} entries`, `give at least ${o.minItems}`);
    }
    if (o.maxItems !== undefined && value.length > o.maxItems) {
      ctx.problems.add(path, `has ${value.length} entries`, `give at most ${o.maxItems}`);
    }
    const out: T[] = [];
    let ok = true;
    value.forEach((v, i) => {
      const parsed = parseField(item, v, `${path}[${i}]`, ctx);
      if (parsed === undefined) ok = false;
      else out.push(parsed);
    });
    return ok ? out : undefined;
  });
  spec.item = item as Spec<unknown>;
  return spec;
}

/** A map with free-form keys (labels, per-service settings). */
export function record<T>(item: Spec<T>, o: Opts<Record<string, T>> & { keyPattern?: RegExp; keyHint?: string }): Spec<Record<string, T>> {
  const spec = base<Record<string, T>>(`map of ${item.typeName}`, o, (value, path, ctx) => {
    if (!isPlainObject(value)) {
      ctx.problems.add(path, `expected a map, got ${show(value)}`, "write it as a YAML mapping (key: value)");
      return undefined;
    }
    // Defined, not assigned: a "__proto__" key stays a key (and is refused by keyPattern where set).
    const out: Record<string, T> = {};
    let ok = true;
    for (const [k, v] of Object.entries(value)) {
      if (o.keyPattern && !o.keyPattern.test(k)) {
        ctx.problems.add(`${path}.${k}`, `key ${show(k)} is not valid`, o.keyHint ?? `keys must match ${o.keyPattern}`);
        ok = false;
        continue;
      }
      const parsed = parseField(item, v, `${path}.${k}`, ctx);
      if (parsed === undefined) ok = false;
      else Object.defineProperty(out, k, { value: parsed, enumerable: true, writable: true, configurable: true });
    }
    return ok ? out : undefined;
  });
  spec.item = item as Spec<unknown>;
  return spec;
}

export type Infer<S> = S extends Spec<infer T> ? T : never;
type Shape = Record<string, Spec<unknown>>;
type OptionalKeys<F extends Shape> = { [K in keyof F]: F[K] extends { optional: true } ? K : never }[keyof F];
export type InferObject<F extends Shape> = { [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & {
  [K in OptionalKeys<F>]?: Infer<F[K]>;
};

export function obj<F extends Shape>(fields: F, o: Opts<InferObject<F>>): Spec<InferObject<F>> {
  const spec = base<InferObject<F>>("object", o, (value, path, ctx) => {
    if (!isPlainObject(value)) {
      ctx.problems.add(path, `expected a mapping, got ${show(value)}`, `write it as a YAML mapping with keys ${Object.keys(fields).join(", ")}`);
      return undefined;
    }
    return parseFields(fields, value, path, ctx) as InferObject<F> | undefined;
  });
  spec.fields = fields;
  return spec;
}

/** Marks a spec optional: absent means `undefined`, not an error. */
export function optional<T>(spec: Spec<T>): Spec<T> & { optional: true } {
  return { ...spec, optional: true } as Spec<T> & { optional: true };
}

export function parseField<T>(spec: Spec<T>, value: unknown, path: string, ctx: ParseContext): T | undefined {
  if (value === undefined || value === null) {
    // Defaults go through the parser too, so nested defaults of an object default apply.
    if (spec.defaultValue !== undefined) return spec.parse(structuredClone(spec.defaultValue), path, ctx);
    if (!spec.optional) {
      ctx.problems.add(path, "is required but not set", `set it in the stack file (see docs/config.md: ${spec.description})`);
    }
    return undefined;
  }
  return spec.parse(value, path, ctx);
}

/** Parses the fields of an object; reports unknown keys with a suggestion. */
export function parseFields(fields: Shape, value: Record<string, unknown>, path: string, ctx: ParseContext, joiner = "."): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let ok = true;
  for (const k of Object.keys(value)) {
    if (!Object.hasOwn(fields, k)) {
      const guess = closest(k, Object.keys(fields));
      ctx.problems.add(
        `${path}${joiner}${k}`,
        "is not a known key",
        guess ? `did you mean "${guess}"? Known keys: ${Object.keys(fields).join(", ")}` : `remove it; known keys: ${Object.keys(fields).join(", ")}`,
      );
      ok = false;
    }
  }
  for (const [k, spec] of Object.entries(fields)) {
    const had = ctx.problems.list.length;
    const parsed = parseField(spec, value[k], `${path}${joiner}${k}`, ctx);
    if (parsed === undefined) {
      if (ctx.problems.list.length > had) ok = false;
    } else {
      out[k] = parsed;
    }
  }
  return ok ? out : undefined;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
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
