// Disaster rebuild from nothing: preflight, stale tailnet devices, pulumi up, cloud-init, restore on
// the node, acceptance. Thin orchestration over ./preflight (I/O) and ./steps (decisions); every step
// is timed and the breakdown is the RTO.
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import { SSH_PORT } from "../../infra/catalog/services.js";
import { ssh, waitForSsh, type SshTarget } from "../lib/ssh.js";
import { execa } from "execa";
import {
  deleteTailscaleDevice,
  findServers,
  listServerTypes,
  listSnapshots,
  listTailscaleDevices,
} from "../lib/cloud-api.js";
import { bakeSetFor } from "../../infra/plan/bake.js";
import { orderableVerdict } from "../lib/server-types.js";
import { loadStack, stackOutputs, stackSecrets, type Secrets } from "../lib/stack.js";
import { backupAgeVerdict, chooseRepository, readRepositories } from "../lib/backups.js";
import type { StepResult } from "../lib/timings.js";
import { exportState, newestStateBackups, stateBackupsVerdict } from "../lib/state.js";
import {
  parseRestoreTimings,
  pulumiUpArgs,
  rebuildSteps,
  rebuildTargets,
  RECEIVED_WAL_DIR,
  RECEIVED_WAL_MINUTES,
  RESTORE_REFUSED,
  restoreCommand,
  walFetchCommand,
  walResumeCommand,
  walUploadCommand,
  staleTailscaleDevices,
  targetVerdict,
  bootImageVerdict,
  walCopyNode,
  type RebuildOptions,
  type Step,
} from "./steps.js";
import { howItEnded, splitHostPort } from "../lib/cli.js";

export interface RebuildRun extends RebuildOptions {
  stackFile?: string;
  secretsFile?: string;
  sshUser: string;
  sshKey?: string;
  /** SSH endpoint of the PostgreSQL node instead of its tailnet name / public IPv4. */
  target?: string;
  /** Progress lines (stderr in the CLI). */
  progress: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

export interface PreflightCheck {
  name: string;
  ok: boolean;
  /** Passed, but something needs fixing after the rebuild (a second repository that is down). */
  warn?: boolean;
  detail: string;
}

export interface RebuildReport {
  stack: string;
  dryRun: boolean;
  forced: boolean;
  ok: boolean;
  /** The repository the restore reads (xiopro-restore --repo), when the preflight found a usable one. */
  repository?: number;
  preflight: PreflightCheck[];
  steps: StepResult[];
  totalSeconds: number;
}

const BOOT_FINISHED = "test -e /var/lib/cloud/instance/boot-finished";

async function preflight(
  o: RebuildRun,
  plan: Plan,
  secretProblems: string | undefined,
  secrets: Secrets,
): Promise<{ checks: PreflightCheck[]; repo?: number }> {
  const checks: PreflightCheck[] = [];
  checks.push({
    name: "config and secrets",
    ok: secretProblems === undefined,
    detail: secretProblems ?? `Pulumi.${o.stack}.yaml is valid and every secret the stack needs is set`,
  });

  const readings = await readRepositories(plan, secrets);
  const withPg = plan.nodes.some((n) => n.services.some((s) => s.name === "postgresql"));
  const now = Math.floor(Date.now() / 1000);
  const choice = chooseRepository(readings, withPg, now);
  // One usable, fresh repository is enough to rebuild: the others' trouble is a warning, not a stop
  // (losing one account is what the second repository is for).
  if (readings.length > 1)
    checks.push({ name: "backup repository", ok: choice.ok, warn: choice.warn || undefined, detail: choice.message });
  // The ages of the backups the restore uses (with one repository: its problems too).
  const used = readings.length === 1 ? readings[0] : readings.find((r) => r.repo === choice.repo);
  for (const p of used?.problems ?? []) checks.push({ name: "newest backup age", ok: false, detail: p });
  for (const b of used?.backups ?? []) {
    const v = backupAgeVerdict(b, now);
    checks.push({ name: `newest backup age (${b.tool})`, ok: v.ok, detail: v.message });
  }

  // pulumi up needs the state that lists what is left (volumes, addresses, DNS); its backup is the
  // way back if the backend is lost too.
  const state = await exportState(o.stack);
  if (!state.ok)
    checks.push({
      name: "pulumi state",
      ok: false,
      detail: `${state.why}: log in to the state backend, or put the state back from the repository (npm run state -- restore --stack ${o.stack})`,
    });
  else {
    checks.push({
      name: "pulumi state",
      ok: true,
      detail: `${state.summary.resources} resources, updated ${new Date(state.summary.updatedAt * 1000).toISOString()}`,
    });
    const backups = await newestStateBackups(plan, secrets, o.stack);
    const v = "problem" in backups ? undefined : stateBackupsVerdict(state.summary, backups);
    checks.push({
      name: "pulumi state backup",
      ok: v?.ok ?? false,
      warn: v?.warn || undefined,
      detail:
        "problem" in backups
          ? `cannot read the state's backups: ${backups.problem}`
          : v!.ok
            ? v!.message
            : `${v!.message}: npm run state -- backup --stack ${o.stack}`,
    });
  }

  // A node a service keeps (a surviving WAL receiver closes the gap) is not a target.
  const names = rebuildTargets(plan).map((n) => n.name);
  const token = o.env.HCLOUD_TOKEN ?? secrets["hcloud:token"];
  if (!token)
    checks.push({
      name: "target free",
      ok: false,
      detail:
        "cannot check that the servers are gone: no HCLOUD_TOKEN in the environment and no hcloud:token in the stack config",
    });
  else {
    try {
      const v = targetVerdict(await findServers(names, token, o.env), names);
      checks.push({ name: "target free", ok: v.ok, detail: v.message });
    } catch (e) {
      checks.push({ name: "target free", ok: false, detail: `cannot ask the Hetzner API: ${(e as Error).message}` });
    }
    // What each rebuilt node boots: a baked node needs a snapshot of its set (ADR 0008).
    for (const n of rebuildTargets(plan)) {
      const set = bakeSetFor(plan, n);
      try {
        const v = bootImageVerdict(n, set, await listSnapshots(set.selector, token, o.env), o.stack);
        checks.push({ name: `boot image (${n.name})`, ok: v.ok, warn: v.warn || undefined, detail: v.message });
      } catch (e) {
        checks.push({
          name: `boot image (${n.name})`,
          ok: false,
          detail: `cannot ask the Hetzner API: ${(e as Error).message}`,
        });
      }
    }
    // The plan refused types the catalog knows deprecated; the live API may know more since.
    try {
      const live = await listServerTypes(token, o.env);
      const today = new Date().toISOString().slice(0, 10);
      for (const n of rebuildTargets(plan)) {
        const v = orderableVerdict(live, n.serverType, n.location, today);
        checks.push({ name: `server type orderable (${n.name})`, ok: v.ok, detail: v.message });
      }
    } catch (e) {
      checks.push({
        name: "server type orderable",
        ok: false,
        detail: `cannot ask the Hetzner API: ${(e as Error).message}`,
      });
    }
  }
  if (plan.adminPath.mode === "tailscale" && !o.env.TAILSCALE_API_KEY) {
    checks.push({
      name: "tailnet cleanup",
      ok: false,
      detail:
        "TAILSCALE_API_KEY is not set: the old node would keep its tailnet name, and pulumi up reaches the node by that name (set an API access token, or remove the old machines in the admin console and pass --force)",
    });
  }
  return { checks, repo: choice.repo };
}

async function pulumiOutputs(stack: string): Promise<Record<string, { publicIpv4?: string }>> {
  const got = await stackOutputs(stack);
  if (!got.ok) throw new Error(got.why);
  return (got.outputs as { nodes?: Record<string, { publicIpv4?: string }> }).nodes ?? {};
}

function sshTarget(
  o: RebuildRun,
  plan: Plan,
  node: NodePlan,
  outputs: Record<string, { publicIpv4?: string }>,
  isPg: boolean,
): SshTarget {
  if (o.target && isPg) {
    const [host, port] = splitHostPort(o.target);
    return { host, port, user: o.sshUser, key: o.sshKey };
  }
  const host = plan.adminPath.mode === "tailscale" ? node.name : (outputs[node.key]?.publicIpv4 ?? node.fqdn);
  return { host, port: SSH_PORT, user: o.sshUser, key: o.sshKey };
}

const tail = (s: string, n = 15) => s.trim().split("\n").slice(-n).join("\n");

/** Runs one step; returns its detail (and sub-timings), throws with the reason on failure. */
type StepRunner = () => Promise<{ detail: string; parts?: Record<string, number>; status?: "ok" | "skipped" }>;

export async function rebuild(o: RebuildRun): Promise<RebuildReport> {
  const t0 = Date.now();
  const { plan, secretProblems } = loadStack({ stack: o.stack, stackFile: o.stackFile, location: o.location });
  const tailscaleToken = Boolean(o.env.TAILSCALE_API_KEY);
  let steps = rebuildSteps(o, plan, tailscaleToken);
  const results: StepResult[] = [];
  const total = steps.length;
  const say = (i: number, s: Step) => o.progress(`[${i + 1}/${total}] ${s.title}`);

  say(0, steps[0]!);
  const secrets = await stackSecrets(o.stack, o.secretsFile);
  const { checks, repo } = await preflight(o, plan, secretProblems, secrets);
  // The restore reads the repository the preflight checked.
  steps = rebuildSteps(o, plan, tailscaleToken, repo);
  for (const c of checks)
    o.progress(
      `      ${c.ok ? (c.warn ? "WARN" : "ok  ") : o.force ? "FORCED" : "FAIL"} ${c.name}: ${c.detail.replace(/\n/g, "\n             ")}`,
    );
  const passed = checks.every((c) => c.ok);
  results.push({
    id: "preflight",
    title: steps[0]!.title,
    status: passed || o.force ? "ok" : "failed",
    seconds: (Date.now() - t0) / 1000,
    detail: passed
      ? "all checks passed"
      : `${checks.filter((c) => !c.ok).length} check(s) failed${o.force ? ", overridden by --force" : ""}`,
  });
  const report = (ok: boolean): RebuildReport => ({
    stack: o.stack,
    dryRun: o.dryRun,
    forced: o.force,
    ok,
    ...(repo !== undefined ? { repository: repo } : {}),
    preflight: checks,
    steps: results,
    totalSeconds: results.reduce((a, r) => a + r.seconds, 0),
  });

  if (o.dryRun) {
    for (const s of steps.slice(1))
      results.push({
        id: s.id,
        title: s.title,
        status: s.skip ? "skipped" : "planned",
        seconds: 0,
        detail: s.skip ?? s.command,
      });
    return report(passed || o.force);
  }
  if (!passed && !o.force) {
    o.progress("preflight failed: nothing was changed (fix the problems above, or pass --force to override them)");
    return report(false);
  }

  const pgNode = plan.nodes.find((n) => n.services.some((s) => s.name === "postgresql"));
  const wal = walCopyNode(plan);
  const receiverNode = wal?.node;
  let outputs: Record<string, { publicIpv4?: string }> = {};
  /** The WAL receiver's newest WAL (base64 tar.gz), when its node answered. */
  let receivedWal: string | undefined;
  const runners: Record<Exclude<Step["id"], "preflight">, StepRunner> = {
    "wal-fetch": async () => {
      // The receiver's node may have survived the disaster: its WAL closes the gap after the archive.
      if (plan.adminPath.mode !== "tailscale") outputs = await pulumiOutputs(o.stack).catch(() => ({}));
      const t = sshTarget(o, plan, receiverNode!, outputs, false);
      try {
        await waitForSsh(t, Number(o.env.XIOPRO_REBUILD_RECEIVER_WAIT_S ?? 60));
      } catch (e) {
        return {
          status: "skipped",
          detail: `${receiverNode!.name} does not answer (${e instanceof Error ? e.message : String(e)}): the restore uses the repository alone (RPO up to backup.archiveTimeoutSeconds)`,
        };
      }
      const r = await ssh(t, walFetchCommand(wal!.copy, RECEIVED_WAL_MINUTES), undefined, 1800_000);
      if (r.code !== 0 || r.stdout.trim() === "") {
        return {
          status: "skipped",
          detail: `could not copy the received WAL from ${receiverNode!.name} (exit ${r.code}: ${tail(r.stderr, 2) || "no output"}): the restore uses the repository alone`,
        };
      }
      receivedWal = r.stdout.trim();
      return {
        detail: `stopped the receiver; ${(Buffer.byteLength(receivedWal, "base64") / 1024).toFixed(0)} KiB of compressed WAL (the segment in progress, histories, the last ${RECEIVED_WAL_MINUTES} min)`,
      };
    },
    "wal-resume": async () => {
      const t = sshTarget(o, plan, receiverNode!, outputs, false);
      const r = await ssh(t, walResumeCommand(wal!.copy));
      if (r.code !== 0)
        throw new Error(
          `the WAL receiver on ${receiverNode!.name} did not start again (exit ${r.code}): ${tail(r.stderr, 3)}`,
        );
      return { detail: `old timeline's WAL moved aside; streaming from the restored database` };
    },
    tailscale: async () => {
      const token = o.env.TAILSCALE_API_KEY!;
      // A receiver node that answered is alive: its device stays (wal-resume reaches it by name).
      const lost = plan.nodes.filter((n) => !(n === receiverNode && receivedWal !== undefined)).map((n) => n.name);
      const stale = staleTailscaleDevices(await listTailscaleDevices(token, o.env), lost);
      for (const d of stale) await deleteTailscaleDevice(d.id, token, o.env);
      return {
        detail: stale.length
          ? `removed ${stale.map((d) => `${d.name} (last seen ${d.lastSeen ?? "never"})`).join(", ")}`
          : "no device carried the nodes' names",
      };
    },
    "pulumi-up": async () => {
      const r = await execa("pulumi", pulumiUpArgs(o), { timeout: 2 * 3600_000, reject: false });
      if (r.exitCode !== 0) throw new Error(`pulumi up ${howItEnded(r)}:\n${tail(`${r.stdout}\n${r.stderr}`)}`);
      return { detail: tail(r.stdout, 3).replace(/\n/g, " | ") };
    },
    "cloud-init": async () => {
      if (plan.adminPath.mode !== "tailscale" || o.target) outputs = await pulumiOutputs(o.stack);
      const waited: string[] = [];
      for (const n of plan.nodes) {
        const t = sshTarget(o, plan, n, outputs, n === pgNode);
        const s0 = Date.now();
        await waitForSsh(t, Number(o.env.XIOPRO_REBUILD_SSH_WAIT_S ?? 900));
        for (;;) {
          const r = await ssh(t, BOOT_FINISHED);
          if (r.code === 0) break;
          if ((Date.now() - s0) / 1000 > Number(o.env.XIOPRO_REBUILD_BOOT_WAIT_S ?? 1800))
            throw new Error(
              `cloud-init on ${n.name} did not finish (no /var/lib/cloud/instance/boot-finished); look at /var/log/cloud-init-output.log over SSH or the Hetzner console`,
            );
          await new Promise((res) => setTimeout(res, 5000));
        }
        waited.push(`${n.name} ${((Date.now() - s0) / 1000).toFixed(1)} s`);
      }
      return { detail: `boot finished: ${waited.join(", ")}` };
    },
    restore: async () => {
      const t = sshTarget(o, plan, pgNode!, outputs, true);
      if (receivedWal) {
        const up = await ssh(t, walUploadCommand(), `${receivedWal}\n`, 1800_000);
        if (up.code !== 0)
          throw new Error(`could not copy the received WAL to ${t.host} (exit ${up.code}): ${tail(up.stderr, 3)}`);
      }
      const r = await ssh(
        t,
        restoreCommand(o.targetTime, receivedWal ? RECEIVED_WAL_DIR : undefined, repo),
        undefined,
        6 * 3600_000,
      );
      const parts = parseRestoreTimings(r.stdout);
      if (r.code === RESTORE_REFUSED) {
        return {
          status: "skipped",
          parts,
          detail: `the cluster on ${pgNode!.name} holds data (its volume survived): nothing was restored, the volume's data is newer than any backup. To replace it anyway: ssh ${t.host} sudo xiopro-restore --force`,
        };
      }
      if (r.code !== 0) throw new Error(`xiopro-restore on ${t.host} exited ${r.code}:\n${tail(r.stderr)}`);
      return { parts, detail: r.stdout.split("\n").find((l) => l.startsWith("restore pass")) ?? "restored" };
    },
    accept: async () => {
      const args = [
        "run",
        "accept",
        "--",
        ...(o.stackFile ? ["--stack-file", o.stackFile] : ["--stack", o.stack]),
        ...(o.sshKey ? ["--ssh-key", o.sshKey] : []),
        ...(o.target ? ["--target", o.target] : []),
      ];
      const r = await execa("npm", args, { timeout: 3600_000, reject: false });
      if (r.exitCode !== 0) throw new Error(`acceptance failed (${howItEnded(r)}):\n${tail(r.stdout)}`);
      return { detail: tail(r.stdout, 1) };
    },
  };

  for (let i = 1; i < steps.length; i++) {
    const s = steps[i]!;
    say(i, s);
    if (s.skip) {
      o.progress(`      skipped: ${s.skip}`);
      results.push({ id: s.id, title: s.title, status: "skipped", seconds: 0, detail: s.skip });
      continue;
    }
    const s0 = Date.now();
    try {
      const r = await runners[s.id as Exclude<Step["id"], "preflight">]();
      const seconds = (Date.now() - s0) / 1000;
      o.progress(`      ${r.status ?? "ok"} in ${seconds.toFixed(1)} s: ${r.detail}`);
      results.push({
        id: s.id,
        title: s.title,
        status: r.status ?? "ok",
        seconds,
        detail: r.detail,
        ...(r.parts ? { parts: r.parts } : {}),
      });
    } catch (e) {
      const seconds = (Date.now() - s0) / 1000;
      const detail = e instanceof Error ? e.message : String(e);
      o.progress(`      FAILED after ${seconds.toFixed(1)} s: ${detail}`);
      results.push({ id: s.id, title: s.title, status: "failed", seconds, detail });
      return report(false);
    }
  }
  return report(true);
}
