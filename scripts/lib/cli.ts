// Flag parsing shared by the thin CLIs: strict flags, no positionals, `-h/--help`.
import * as path from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { Result } from "execa";
import { SSH_PORT } from "../../infra/catalog/services.js";

/** The repository (where Pulumi.yaml and the stack files are). */
export const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");

/** A problem the operator fixes (a flag, the stack config): the CLI prints the message, no stack trace, and exits 1. */
export class UsageError extends Error {}

/**
 * Why a child process run with `reject: false` failed, in one line: the first non-empty line of its
 * stderr, else execa's reason (exit code, timeout, command not found).
 */
export function failureOf(r: Pick<Result, "stderr" | "shortMessage">): string {
  const line = String(r.stderr ?? "")
    .split("\n")
    .map((l) => l.trim())
    .find(Boolean);
  return line ?? String(r.shortMessage).split("\n")[0]!;
}

/** How a child process run with `reject: false` ended: "exited N", "timed out after N s" or why it did not start. */
export function howItEnded(r: Pick<Result, "exitCode" | "timedOut" | "shortMessage">, timeoutMs?: number): string {
  if (r.timedOut) return timeoutMs ? `timed out after ${timeoutMs / 1000} s` : "timed out";
  if (r.exitCode !== undefined) return `exited ${r.exitCode}`;
  return `did not run (${String(r.shortMessage).split("\n")[0]})`;
}

/** `host`, `host:port` or `[v6]:port` → [host, port] (sshd's port unless given). */
export function splitHostPort(t: string): [string, number] {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(t);
  if (!m || (t.split(":").length > 2 && !t.startsWith("[")))
    throw new UsageError(`--target ${JSON.stringify(t)} is not host[:port] ([v6]:port for IPv6)`);
  return [m[1]!, m[2] ? Number(m[2]) : SSH_PORT];
}

type Options = NonNullable<ParseArgsConfig["options"]>;
type Flags<O extends Options> = ReturnType<
  typeof parseArgs<{ options: O & { help: { type: "boolean"; short: "h" } }; strict: true; allowPositionals: false }>
>["values"];

/**
 * Parses process.argv. Returns the flags, or the exit code when the CLI is done: 0 after printing
 * the usage for --help, 2 after printing a bad flag with the usage.
 */
export function parseFlags<const O extends Options>(
  options: O,
  usage: string,
  argv: string[] = process.argv.slice(2),
): Flags<O> | number {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
    if ((values as { help?: boolean }).help) {
      console.log(usage);
      return 0;
    }
    return values as Flags<O>;
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${usage}`);
    return 2;
  }
}
