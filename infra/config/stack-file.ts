// Reads Pulumi.<stack>.yaml the way the Pulumi CLI hands config to a program: `project:key` →
// string, structured values JSON-encoded, `secure:` values kept secret. Used where no Pulumi CLI
// runs (the offline plan, tests); under `pulumi up` the CLI does this itself.
import * as fs from "node:fs";
import * as path from "node:path";
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import type { RawConfig } from "./load.js";
import type { Problem } from "../catalog/schema.js";

/** Stand-in for a secret whose ciphertext only the Pulumi CLI can decrypt. */
export const SECRET_PLACEHOLDER = "[secret]";

export type StackFileResult = { ok: true; raw: RawConfig; file: string } | { ok: false; problems: Problem[] };

const STACK_FILE_KEYS = new Set(["config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"]);

export function stackFilePath(projectDir: string, stack: string): string {
  return path.join(projectDir, `Pulumi.${stack}.yaml`);
}

export function listStacks(projectDir: string): string[] {
  return fs
    .readdirSync(projectDir)
    .map((f) => /^Pulumi\.([A-Za-z0-9_.-]+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

export function readStackFile(projectDir: string, stack: string): StackFileResult {
  const file = stackFilePath(projectDir, stack);
  const rel = path.basename(file);
  if (!/^[A-Za-z0-9_.-]+$/.test(stack)) {
    return {
      ok: false,
      problems: [
        {
          key: "--stack",
          message: `${JSON.stringify(stack)} is not a stack name`,
          fix: `use one of ${listStacks(projectDir).join(", ")}`,
        },
      ],
    };
  }
  if (!fs.existsSync(file)) {
    return {
      ok: false,
      problems: [
        {
          key: rel,
          message: "does not exist",
          fix: `use one of the stacks ${listStacks(projectDir).join(", ")}, or create ${rel} from Pulumi.tst.yaml (the worked example)`,
        },
      ],
    };
  }
  const bytes = fs.readFileSync(file);
  let text: string;
  try {
    // Fatal: invalid UTF-8 would otherwise become U+FFFD in a value without a word.
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const line = bytes.subarray(0, at).toString("latin1").split("\n").length;
    return {
      ok: false,
      problems: [
        {
          key: `${rel}:${line}`,
          message: `is not valid UTF-8 (byte ${at + 1}: 0x${bytes[at]!.toString(16).padStart(2, "0")})`,
          fix: "save the file as UTF-8",
        },
      ],
    };
  }
  return parseStackYaml(text, rel);
}

/** Offset of the first byte where a strict UTF-8 decoder fails. */
function firstInvalidUtf8(bytes: Buffer): number {
  let lo = 0;
  let hi = bytes.length;
  const ok = (n: number) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ok(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function parseStackYaml(text: string, fileName: string): StackFileResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return {
          key: `${fileName}:${pos.line}:${pos.col}`,
          message: `is not valid YAML (${e.code}: ${e.message.split("\n")[0]})`,
          fix: "fix the YAML syntax at that line (indentation, a missing colon or an unclosed quote)",
        };
      }),
    };
  }
  const top = doc.contents;
  if (top === null) return { ok: true, raw: { values: {}, secretKeys: new Set() }, file: fileName };
  if (!isMap(top)) {
    return {
      ok: false,
      problems: [
        {
          key: fileName,
          message: "is not a YAML mapping",
          fix: "start the file with `config:` and indent the keys below it",
        },
      ],
    };
  }
  const problems: Problem[] = [];
  for (const item of top.items) {
    const k = isScalar(item.key) ? String(item.key.value) : String(item.key);
    if (!STACK_FILE_KEYS.has(k))
      problems.push({
        key: `${fileName}: ${k}`,
        message: "is not a stack file key",
        fix: "put settings under `config:` as `xiopro-infra:<key>: value`",
      });
  }
  const config = (doc.toJS() as Record<string, unknown>).config ?? {};
  if (typeof config !== "object" || Array.isArray(config) || config === null) {
    problems.push({
      key: `${fileName}: config`,
      message: "is not a mapping",
      fix: "indent `xiopro-infra:<key>: value` lines below `config:`",
    });
    return { ok: false, problems };
  }
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    if (!key.includes(":")) {
      problems.push({
        key: `${fileName}: ${key}`,
        message: "has no namespace",
        fix: `write it as xiopro-infra:${key}`,
      });
      continue;
    }
    if (isSecure(value)) {
      values[key] = SECRET_PLACEHOLDER;
      secretKeys.add(key);
    } else if (containsSecure(value)) {
      // `pulumi config set --path --secret a.B v` keeps the object's shape with secure leaves; a
      // plain leaf beside them is a secret that was set without --secret.
      for (const leaf of plainLeaves(value, "")) {
        problems.push({
          key: `${fileName}: ${key}${leaf}`,
          message: "is plain text beside encrypted values",
          fix: `run: pulumi config set --secret --path '${key}${leaf}' <value>`,
        });
      }
      values[key] = JSON.stringify(replaceSecure(value));
      secretKeys.add(key);
    } else {
      // JSON has no Infinity or NaN: JSON.stringify would turn YAML's .inf/.nan into null, a default.
      const at = nonFinite(value, "");
      if (at !== undefined)
        problems.push({
          key: `${fileName}: ${key}${at}`,
          message: "is not a finite number (.inf or .nan)",
          fix: "write a number",
        });
      values[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, raw: { values, secretKeys }, file: fileName };
}

/** The path of the first number in v that is Infinity or NaN, or undefined. */
function nonFinite(v: unknown, at: string): string | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? undefined : at;
  if (Array.isArray(v))
    for (const [i, x] of v.entries()) {
      const p = nonFinite(x, `${at}[${i}]`);
      if (p !== undefined) return p;
    }
  else if (typeof v === "object" && v !== null)
    for (const [k, x] of Object.entries(v)) {
      const p = nonFinite(x, `${at}.${k}`);
      if (p !== undefined) return p;
    }
  return undefined;
}

/** Paths of the string and number leaves of v that are not secure values. */
function plainLeaves(v: unknown, at: string): string[] {
  if (isSecure(v)) return [];
  if (Array.isArray(v)) return v.flatMap((x, i) => plainLeaves(x, `${at}[${i}]`));
  if (typeof v === "object" && v !== null) return Object.entries(v).flatMap(([k, x]) => plainLeaves(x, `${at}.${k}`));
  return typeof v === "string" || typeof v === "number" ? [at] : [];
}

function containsSecure(v: unknown): boolean {
  if (isSecure(v)) return true;
  if (Array.isArray(v)) return v.some(containsSecure);
  return typeof v === "object" && v !== null && Object.values(v).some(containsSecure);
}

function replaceSecure(v: unknown): unknown {
  if (isSecure(v)) return SECRET_PLACEHOLDER;
  if (Array.isArray(v)) return v.map(replaceSecure);
  if (typeof v === "object" && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replaceSecure(x)]));
  return v;
}

function isSecure(v: unknown): boolean {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    Object.keys(v).length === 1 &&
    typeof (v as { secure?: unknown }).secure === "string"
  );
}
