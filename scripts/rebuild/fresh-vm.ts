// The restore drill on a throwaway server of its own stack (`<stack>-drill`): pulumi up, cloud-init,
// xiopro-restore of the production repository on that server (read-only: the restored cluster never
// archives), the recorded result, and `pulumi destroy` in a finally, whatever happened.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { PROJECT } from "../../infra/config/keys.js";
import type { Plan } from "../../infra/plan/index.js";
import { ssh, waitForSsh, type SshTarget } from "../lib/ssh.js";
import { execa } from "execa";
import { deleteTailscaleDevice, listTailscaleDevices } from "../lib/cloud-api.js";
import { loadStack } from "../lib/stack.js";
import { parseRestoreTimings, RESTORE_SCRIPT, staleTailscaleDevices } from "./steps.js";
import { formatTimings, type StepResult } from "../lib/timings.js";
import { howItEnded, UsageError } from "../lib/cli.js";
import { etcFile, stateFile } from "../../infra/catalog/layout.js";
import { SSH_PORT } from "../../infra/catalog/services.js";

export const drillStackName = (stack: string) => `${stack}-drill`;

/** The node-side command: a full production restore, minus anything that writes to the repository. */
export const DRILL_RESTORE_COMMAND = `sudo ${RESTORE_SCRIPT} --files --no-archive`;

/**
 * The drill stack's config: the source stack's, with what must differ on a throwaway server. Names
 * come from the environment, so `dev` keeps them apart from the source's; its own DNS zone under the
 * domain and no public sites, so no record of the source changes; nothing protected, so destroy
 * works; only the PostgreSQL node; no Hetzner backups; no alert delivery. Secure values stay as
 * `pulumi stack init --copy-config-from` re-encrypted them.
 */
export function drillStackYaml(text: string): string {
  const doc = parseDocument(text);
  const k = (key: string) => ["config", `${PROJECT}:${key}`];
  const get = (key: string) => doc.getIn(k(key)) as unknown;
  const domain = String(doc.toJS().config?.[`${PROJECT}:domain`] ?? "");
  doc.setIn(k("environment"), "dev");
  doc.setIn(k("domain"), `drill.${domain}`);
  doc.setIn(k("dns"), doc.createNode({ mode: "create", ttl: 300 }));
  doc.setIn(k("ingress"), doc.createNode({ tls: "internal", sites: [] }));
  doc.setIn(k("protection"), doc.createNode({ deleteProtection: false, pulumiProtect: false }));
  doc.setIn(k("userDataChange"), "replace");
  if (get("nodeA") !== undefined) doc.setIn([...k("nodeA"), "backups"], false);
  for (const n of ["nodeC", "nodeD"]) doc.setIn(k(n), doc.createNode({ enabled: false }));
  if (get("monitoring") !== undefined) {
    doc.deleteIn([...k("monitoring"), "email"]);
    doc.deleteIn([...k("monitoring"), "webhook"]);
  }
  return doc.toString();
}

export interface FreshVmOptions {
  stack: string;
  projectDir: string;
  sshUser: string;
  sshKey?: string;
  env: NodeJS.ProcessEnv;
  progress: (line: string) => void;
}

export interface FreshVmReport {
  stack: string;
  drillStack: string;
  ok: boolean;
  destroyed: boolean;
  steps: StepResult[];
  /** The node's restore-result.json, when the restore ran. */
  restore?: Record<string, unknown>;
  totalSeconds: number;
}

const tail = (s: string, n = 12) => s.trim().split("\n").slice(-n).join("\n");

function requireSettings(o: FreshVmOptions, plan: Plan): void {
  const problems: string[] = [];
  if (plan.environment === "dev")
    problems.push(
      `stack ${o.stack} is itself a dev environment: the drill stack takes the dev names; drill from prd or tst`,
    );
  if (
    !plan.nodes.some((n) => n.services.some((s) => s.name === "postgresql")) ||
    !plan.nodes.some((n) => n.services.some((s) => s.name === "backup"))
  )
    problems.push(`stack ${o.stack} has no node with postgresql and backup: nothing to drill`);
  // Hetzner refuses a second SSH key with the same fingerprint in one project.
  if (!o.env.XIOPRO_DRILL_HCLOUD_TOKEN)
    problems.push(
      "XIOPRO_DRILL_HCLOUD_TOKEN is not set: the drill runs in its own Hetzner project (the admin SSH key can exist once per project); create one and put its API token there",
    );
  if (plan.adminPath.mode === "tailscale" && !o.env.XIOPRO_DRILL_TAILSCALE_AUTH_KEY)
    problems.push(
      "XIOPRO_DRILL_TAILSCALE_AUTH_KEY is not set: the throwaway server needs its own single-use tailnet auth key (the stack's was used at its first boot)",
    );
  if (problems.length) throw new UsageError(`cannot start the fresh-VM drill:\n  - ${problems.join("\n  - ")}`);
}

export async function freshVmDrill(o: FreshVmOptions): Promise<FreshVmReport> {
  const { plan } = loadStack({ stack: o.stack, stackFile: path.join(o.projectDir, `Pulumi.${o.stack}.yaml`) });
  requireSettings(o, plan);
  const drill = drillStackName(o.stack);
  const pulumi = (args: string[], input?: string, timeoutMs = 3600_000) =>
    execa("pulumi", args, {
      input: input ?? "",
      timeout: timeoutMs,
      env: o.env,
      extendEnv: false,
      cwd: o.projectDir,
      reject: false,
    });
  const steps: StepResult[] = [];
  let drillNames: string[] = [];
  let restore: Record<string, unknown> | undefined;
  let failed = false;

  const step = async (
    id: string,
    title: string,
    fn: () => Promise<{ detail: string; parts?: Record<string, number> }>,
  ): Promise<boolean> => {
    o.progress(`• ${title}`);
    const t0 = Date.now();
    try {
      const r = await fn();
      const seconds = (Date.now() - t0) / 1000;
      o.progress(`    ok in ${seconds.toFixed(1)} s: ${r.detail}`);
      steps.push({ id, title, status: "ok", seconds, detail: r.detail, ...(r.parts ? { parts: r.parts } : {}) });
      return true;
    } catch (e) {
      const seconds = (Date.now() - t0) / 1000;
      const detail = e instanceof Error ? e.message : String(e);
      o.progress(`    FAILED after ${seconds.toFixed(1)} s: ${detail}`);
      steps.push({ id, title, status: "failed", seconds, detail });
      failed = true;
      return false;
    }
  };

  const drillPlan = () => loadStack({ stack: drill, stackFile: path.join(o.projectDir, `Pulumi.${drill}.yaml`) }).plan;
  const target = async (p: Plan): Promise<SshTarget> => {
    const node = p.nodes.find((n) => n.services.some((s) => s.name === "postgresql"))!;
    if (p.adminPath.mode === "tailscale") return { host: node.name, port: SSH_PORT, user: o.sshUser, key: o.sshKey };
    const r = await pulumi(["stack", "output", "--json", "--stack", drill], undefined, 120_000);
    const ip =
      r.exitCode === 0
        ? (JSON.parse(r.stdout) as { nodes?: Record<string, { publicIpv4?: string }> }).nodes?.[node.key]?.publicIpv4
        : undefined;
    if (!ip) throw new Error(`no public IPv4 of ${node.name} in the outputs of stack ${drill}`);
    return { host: ip, port: SSH_PORT, user: o.sshUser, key: o.sshKey };
  };

  const t0 = Date.now();
  let created = false;
  try {
    created = await step("stack", `stack ${drill} from ${o.stack}`, async () => {
      const init = await pulumi(["stack", "init", drill, "--copy-config-from", o.stack], undefined, 120_000);
      if (init.exitCode !== 0 && !/already exists/.test(init.stderr))
        throw new Error(`pulumi stack init failed: ${tail(init.stderr, 3)}`);
      const file = path.join(o.projectDir, `Pulumi.${drill}.yaml`);
      if (!fs.existsSync(file)) throw new Error(`${file} is missing after pulumi stack init`);
      fs.writeFileSync(file, drillStackYaml(fs.readFileSync(file, "utf8")));
      const secrets: [string, string | undefined][] = [
        ["hcloud:token", o.env.XIOPRO_DRILL_HCLOUD_TOKEN],
        ...(plan.adminPath.mode === "tailscale"
          ? [["tailscaleAuthKey", o.env.XIOPRO_DRILL_TAILSCALE_AUTH_KEY] as [string, string]]
          : []),
      ];
      for (const [key, value] of secrets) {
        // The value goes on stdin, never into argv.
        const r = await pulumi(["config", "set", "--secret", key, "--stack", drill], value, 120_000);
        if (r.exitCode !== 0) throw new Error(`pulumi config set --secret ${key} failed: ${tail(r.stderr, 3)}`);
      }
      drillNames = drillPlan().nodes.map((n) => n.name);
      return {
        detail: `${init.exitCode === 0 ? "created" : "exists already, reused"}; dev names, own zone drill.*, nothing protected, its own Hetzner project`,
      };
    });
    if (created) {
      const up = await step("pulumi-up", `pulumi up (stack ${drill})`, async () => {
        const r = await pulumi(["up", "--yes", "--stack", drill], undefined, 2 * 3600_000);
        if (r.exitCode !== 0) throw new Error(`pulumi up ${howItEnded(r)}:\n${tail(`${r.stdout}\n${r.stderr}`)}`);
        return { detail: tail(r.stdout, 1) };
      });
      let t: SshTarget | undefined;
      const booted =
        up &&
        (await step("cloud-init", "wait for cloud-init", async () => {
          const p = drillPlan();
          t = await target(p);
          await waitForSsh(t, Number(o.env.XIOPRO_REBUILD_SSH_WAIT_S ?? 900));
          const s0 = Date.now();
          while ((await ssh(t, "test -e /var/lib/cloud/instance/boot-finished")).code !== 0) {
            if ((Date.now() - s0) / 1000 > 1800) throw new Error("cloud-init did not finish within 30 minutes");
            await new Promise((r) => setTimeout(r, 5000));
          }
          // Never restore on a host that only answers to the name (a live node in the tailnet).
          const mine = await ssh(t, `grep -qx XIOPRO_STACK=${drill} ${etcFile("node.env")}`);
          if (mine.code !== 0)
            throw new Error(
              `${t.host} is not the drill server (its ${etcFile("node.env")} does not say XIOPRO_STACK=${drill}); nothing was restored`,
            );
          return { detail: `${t.host} booted` };
        }));
      if (booted && t) {
        await step(
          "restore",
          "restore production's backup on the throwaway server (xiopro-restore --no-archive)",
          async () => {
            const r = await ssh(t!, DRILL_RESTORE_COMMAND, undefined, 6 * 3600_000);
            const result = await ssh(t!, `sudo cat ${stateFile("restore-result.json")}`);
            if (result.code === 0) restore = JSON.parse(result.stdout) as Record<string, unknown>;
            if (r.code !== 0) throw new Error(`xiopro-restore exited ${r.code}:\n${tail(r.stderr, 6)}`);
            return {
              parts: parseRestoreTimings(r.stdout),
              detail: r.stdout.split("\n").find((l) => l.startsWith("restore pass")) ?? "restored",
            };
          },
        );
      }
    }
  } finally {
    // Whatever happened above: the throwaway server and everything of its stack go.
    await step("destroy", `pulumi destroy (stack ${drill})`, async () => {
      const r = await pulumi(["destroy", "--yes", "--stack", drill], undefined, 3600_000);
      if (r.exitCode !== 0)
        throw new Error(
          `pulumi destroy ${howItEnded(r)}; resources of ${drill} may remain (retry: pulumi destroy --stack ${drill}):\n${tail(r.stderr, 6)}`,
        );
      const rm = await pulumi(["stack", "rm", "--yes", drill], undefined, 120_000);
      if (rm.exitCode !== 0) throw new Error(`pulumi stack rm ${drill} failed: ${tail(rm.stderr, 3)}`);
      return { detail: `stack ${drill} destroyed and removed` };
    });
    if (o.env.TAILSCALE_API_KEY && plan.adminPath.mode === "tailscale" && drillNames.length > 0) {
      await step("tailscale", "remove the drill server's tailnet device", async () => {
        // Only devices that joined during this drill: a real dev node may carry the same name.
        const since = new Date(t0).toISOString();
        const stale = staleTailscaleDevices(
          await listTailscaleDevices(o.env.TAILSCALE_API_KEY!, o.env),
          drillNames,
        ).filter((d) => (d.created ?? "") >= since);
        for (const d of stale) await deleteTailscaleDevice(d.id, o.env.TAILSCALE_API_KEY!, o.env);
        return {
          detail: stale.length ? `removed ${stale.map((d) => d.name).join(", ")}` : "none joined during the drill",
        };
      });
    }
  }
  const destroyed = steps.some((s) => s.id === "destroy" && s.status === "ok");
  return {
    stack: o.stack,
    drillStack: drill,
    ok: !failed && restore?.result === "pass",
    destroyed,
    steps,
    restore,
    totalSeconds: (Date.now() - t0) / 1000,
  };
}

export { formatTimings };
