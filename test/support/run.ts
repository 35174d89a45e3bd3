// Runs a program from a test (through execa, like the CLIs) and hands back its exit code and
// output; never throws for a failure, so a test asserts on the code it expects.
import { execa } from "execa";

export interface RunResult {
  /** The exit code; 124 when the time limit killed it, 127 when it could not start. */
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  const r = await execa(cmd, args, {
    input: opts.input ?? "",
    timeout: opts.timeoutMs,
    // The given environment is the whole environment, as for a CLI started by an operator.
    env: opts.env ?? process.env,
    extendEnv: false,
    cwd: opts.cwd,
    reject: false,
  });
  const code = r.timedOut ? 124 : (r.exitCode ?? 127);
  return { code, stdout: r.stdout, stderr: r.stderr || (r.exitCode === undefined ? r.shortMessage! : "") };
}
