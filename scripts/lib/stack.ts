// Loading a stack for the CLIs: its config file into a validated plan (secrets not needed), the
// problems `pulumi up` would report (secrets needed), and the secret values themselves.
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT } from "../../infra/config/keys.js";
import { formatProblems, loadConfig, type RawConfig } from "../../infra/config/load.js";
import { parseStackYaml, readStackFile } from "../../infra/config/stack-file.js";
import { buildPlan, type Plan } from "../../infra/plan/index.js";
import { execa } from "execa";
import { failureOf, REPO_ROOT, UsageError } from "./cli.js";

/** A query to the Pulumi CLI: never throws for a failure (the caller reports it), two minutes at most. */
const PULUMI_QUERY = { reject: false, timeout: 120_000 } as const;

/** Secret values by short key (pgbackrestCipherPass) or provider key (hcloud:token). */
export type Secrets = Record<string, string>;

export interface StackSource {
  /** The stack's name; with stackFile alone it is read from the file name (Pulumi.<stack>.yaml). */
  stack?: string;
  stackFile?: string;
  /** Where Pulumi.<stack>.yaml is when stackFile is not given (default: this repository). */
  projectDir?: string;
  location?: string;
}

/** The stack's name and its config as the Pulumi CLI would hand it over; a bad file is a UsageError. */
export function readStack(s: StackSource): { stack: string; raw: RawConfig } {
  const stack = s.stack ?? path.basename(s.stackFile ?? "").replace(/^Pulumi\.|\.yaml$/g, "");
  const file = !s.stackFile
    ? readStackFile(s.projectDir ?? REPO_ROOT, stack)
    : fs.existsSync(s.stackFile)
      ? parseStackYaml(fs.readFileSync(s.stackFile, "utf8"), path.basename(s.stackFile))
      : {
          ok: false as const,
          problems: [{ key: s.stackFile, message: "does not exist", fix: "give the path of a stack config file" }],
        };
  if (!file.ok) throw new UsageError(formatProblems(stack, file.problems));
  const raw: RawConfig = { values: { ...file.raw.values }, secretKeys: new Set(file.raw.secretKeys) };
  // --location: what `pulumi up --config location=L` will set, validated before anything runs.
  if (s.location) raw.values[`${PROJECT}:location`] = s.location;
  return { stack, raw };
}

/** The stack's plan (secrets not needed) and the problems `pulumi up` would report (secrets needed). */
export function loadStack(s: StackSource): { plan: Plan; secretProblems: string | undefined } {
  const { stack, raw } = readStack(s);
  const plain = loadConfig(raw, { requireSecrets: false });
  if (!plain.ok) throw new UsageError(formatProblems(stack, plain.problems));
  const full = loadConfig(raw, { requireSecrets: true });
  return {
    plan: buildPlan(plain.config, stack),
    secretProblems: full.ok ? undefined : formatProblems(stack, full.problems),
  };
}

/**
 * Secret values: a JSON file {key: value}, or `pulumi config --show-secrets`. Keys are normalised
 * to short names for this project (provider keys such as hcloud:token stay as they are). When
 * Pulumi cannot answer, `optional` gives none (acceptance then skips its plaintext check) instead
 * of a UsageError (a rebuild cannot go on without them).
 */
export async function stackSecrets(
  stack: string,
  secretsFile?: string,
  opts: { optional?: boolean } = {},
): Promise<Secrets> {
  let entries: [string, string][];
  if (secretsFile) {
    entries = Object.entries(JSON.parse(fs.readFileSync(secretsFile, "utf8")) as Record<string, string>);
  } else {
    const r = await execa("pulumi", ["config", "--show-secrets", "--json", "--stack", stack], PULUMI_QUERY);
    if (r.failed && opts.optional) return {};
    if (r.failed)
      throw new UsageError(
        `pulumi config --show-secrets failed (${failureOf(r)}); check 'pulumi login' and PULUMI_CONFIG_PASSPHRASE, or pass --secrets-file`,
      );
    const all = JSON.parse(r.stdout) as Record<string, { value?: string; secret?: boolean }>;
    entries = Object.entries(all)
      .filter(([, v]) => v.secret && typeof v.value === "string")
      .map(([k, v]) => [k, v.value!]);
  }
  return Object.fromEntries(
    entries.map(([k, v]) => [k.startsWith(`${PROJECT}:`) ? k.slice(PROJECT.length + 1) : k, v]),
  );
}

/** `pulumi stack output --json` of a deployed stack, or why it could not be had. */
export async function stackOutputs(
  stack: string,
  cwd: string = REPO_ROOT,
): Promise<{ ok: true; outputs: Record<string, unknown> } | { ok: false; why: string }> {
  const r = await execa("pulumi", ["stack", "output", "--json", "--stack", stack], { ...PULUMI_QUERY, cwd });
  if (r.code === "ENOENT") return { ok: false, why: "no pulumi CLI on PATH" };
  if (r.failed) return { ok: false, why: `pulumi stack output failed: ${failureOf(r)}` };
  try {
    const outputs = JSON.parse(r.stdout) as unknown;
    if (typeof outputs !== "object" || outputs === null || Array.isArray(outputs))
      return { ok: false, why: "pulumi stack output did not print a JSON object" };
    return { ok: true, outputs: outputs as Record<string, unknown> };
  } catch {
    return { ok: false, why: "pulumi stack output did not print JSON" };
  }
}
