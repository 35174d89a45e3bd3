// The admin path: one SSH connection per call through the system ssh client, batch mode, a
// throwaway known_hosts per run.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execa } from "execa";

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  key?: string;
}

const knownHosts = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "accept-ssh-")), "known_hosts");

export function sshArgs(t: SshTarget, connectTimeout = 10): string[] {
  return [
    "-p",
    String(t.port),
    ...(t.key ? ["-i", t.key, "-o", "IdentitiesOnly=yes"] : []),
    "-o",
    "BatchMode=yes",
    "-o",
    `ConnectTimeout=${connectTimeout}`,
    "-o",
    "StrictHostKeyChecking=accept-new",
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "LogLevel=ERROR",
    `${t.user}@${t.host}`,
  ];
}

/** Runs a remote command (argv joined by the remote shell), feeding `input` on stdin. */
export async function ssh(
  t: SshTarget,
  command: string,
  input?: string,
  timeoutMs = 120_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa("ssh", [...sshArgs(t), command], { input: input ?? "", timeout: timeoutMs, reject: false });
  // ssh exits 255 when it cannot connect; a timed-out or unstartable ssh counts as that too.
  return { code: r.exitCode ?? 255, stdout: r.stdout, stderr: r.stderr || r.shortMessage || "" };
}

/** Waits until SSH answers a trivial command; returns seconds waited, or throws after `limitS`. */
export async function waitForSsh(t: SshTarget, limitS: number): Promise<number> {
  const t0 = Date.now();
  while ((Date.now() - t0) / 1000 < limitS) {
    const r = await execa("ssh", [...sshArgs(t, 5), "true"], { timeout: 15_000, reject: false });
    if (r.exitCode === 0) return (Date.now() - t0) / 1000;
    await new Promise((res) => setTimeout(res, 2000));
  }
  throw new Error(`SSH to ${t.host}:${t.port} did not answer within ${limitS} s`);
}
