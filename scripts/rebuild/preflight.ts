// Preflight of a rebuild, the I/O half: the stack config with its secrets, the newest backups read
// from the repository with the stack's own rendered settings, and whether the servers still exist.
// The verdicts are pure (./steps).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { backupEnv, pgbackrestConf } from "../../cloud-init/configs";
import { formatProblems, loadConfig, type RawConfig } from "../../infra/config/load";
import { PROJECT } from "../../infra/config/keys";
import { parseStackYaml, readStackFile } from "../../infra/config/stack-file";
import { buildPlan, type Plan } from "../../infra/plan";
import { run } from "../lib/run";
import type { HcloudServer, NewestBackup, TailscaleDevice } from "./steps";
import { REPO_ROOT, UsageError } from "../lib/cli";

/** Secret values by short key (pgbackrestCipherPass) or provider key (hcloud:token). */
export type Secrets = Record<string, string>;

export interface StackSource {
  stack: string;
  stackFile?: string;
  location?: string;
}

/** The stack's plan (secrets not needed) and the problems `pulumi up` would report (secrets needed). */
export function loadStack(s: StackSource): { plan: Plan; secretProblems: string | undefined } {
  const file = s.stackFile
    ? parseStackYaml(fs.readFileSync(s.stackFile, "utf8"), path.basename(s.stackFile))
    : readStackFile(REPO_ROOT, s.stack);
  if (!file.ok) throw new UsageError(formatProblems(s.stack, file.problems));
  const raw: RawConfig = { values: { ...file.raw.values }, secretKeys: file.raw.secretKeys };
  // --location: what `pulumi up --config location=L` will set, validated before anything runs.
  if (s.location) raw.values[`${PROJECT}:location`] = s.location;
  const plain = loadConfig(raw, { requireSecrets: false });
  if (!plain.ok) throw new UsageError(formatProblems(s.stack, plain.problems));
  const full = loadConfig(raw, { requireSecrets: true });
  return {
    plan: buildPlan(plain.config, s.stack),
    secretProblems: full.ok ? undefined : formatProblems(s.stack, full.problems),
  };
}

/** Secret values: a JSON file {key: value}, or `pulumi config --show-secrets`. Keys are normalised
 * to short names for this project (provider keys such as hcloud:token stay as they are). */
export async function stackSecrets(stack: string, secretsFile?: string): Promise<Secrets> {
  let entries: [string, string][];
  if (secretsFile) {
    entries = Object.entries(JSON.parse(fs.readFileSync(secretsFile, "utf8")) as Record<string, string>);
  } else {
    const r = await run("pulumi", ["config", "--show-secrets", "--json", "--stack", stack], { timeoutMs: 120_000 });
    if (r.code !== 0)
      throw new UsageError(
        `pulumi config --show-secrets failed (${r.stderr.split("\n")[0] || `exit ${r.code}`}); check 'pulumi login' and PULUMI_CONFIG_PASSPHRASE, or pass --secrets-file`,
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

/** `KEY=value` lines of the rendered backup.env. */
function envLines(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .filter((l) => /^[A-Z_0-9]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).replace(/^"|"$/g, "")]),
  );
}

export interface RepositoryReading {
  backups: NewestBackup[];
  /** Why a tool could not read its repository (never a secret value). */
  problems: string[];
}

/**
 * Reads the newest pgBackRest backup and the newest restic `files` snapshot with the settings the
 * node renders (pgbackrest.conf, backup.env) and the stack's secrets, from this machine.
 */
export async function readRepository(plan: Plan, secrets: Secrets): Promise<RepositoryReading> {
  const node = plan.nodes.find((n) => n.services.some((s) => s.name === "backup"));
  if (!node) return { backups: [], problems: [] };
  const withPg = node.services.some((s) => s.name === "postgresql");
  const env = envLines(backupEnv(plan, node));
  const kind = plan.backup.repository.kind;
  const problems: string[] = [];
  const backups: NewestBackup[] = [];
  const need = (key: string): string | undefined => {
    const v = secrets[key];
    if (v === undefined)
      problems.push(
        `cannot read the repository: secret ${key} has no value here (pulumi config --show-secrets did not list it)`,
      );
    return v;
  };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-rebuild-"));
  try {
    let keyFile: string | undefined;
    if (kind === "sftp") {
      const key = need("backupSftpPrivateKey");
      if (key !== undefined)
        fs.writeFileSync((keyFile = path.join(tmp, "sftp-key")), key.endsWith("\n") ? key : `${key}\n`, {
          mode: 0o600,
        });
    }
    const transport: NodeJS.ProcessEnv = {};
    if (kind === "s3") {
      const [a, s] = [need("backupS3AccessKey"), need("backupS3SecretKey")];
      Object.assign(transport, {
        AWS_ACCESS_KEY_ID: a,
        AWS_SECRET_ACCESS_KEY: s,
        AWS_DEFAULT_REGION: env.AWS_DEFAULT_REGION,
        PGBACKREST_REPO1_S3_KEY: a,
        PGBACKREST_REPO1_S3_KEY_SECRET: s,
      });
    }
    if (keyFile) transport.PGBACKREST_REPO1_SFTP_PRIVATE_KEY_FILE = keyFile;

    if (withPg) {
      const pass = need("pgbackrestCipherPass");
      if ((await run("pgbackrest", ["version"])).code === 127) {
        problems.push(
          "cannot check the newest backup age: pgbackrest is not installed on this machine (install pgbackrest and restic, or pass --force to rebuild without this check)",
        );
      } else if (pass !== undefined) {
        // The node's rendered settings; an empty include path keeps this machine's own conf.d out.
        fs.writeFileSync(path.join(tmp, "pgbackrest.conf"), pgbackrestConf(plan));
        fs.mkdirSync(path.join(tmp, "conf.d"));
        const r = await run(
          "pgbackrest",
          [
            `--config=${path.join(tmp, "pgbackrest.conf")}`,
            `--config-include-path=${path.join(tmp, "conf.d")}`,
            `--lock-path=${tmp}`,
            "--log-level-file=off",
            "--log-level-console=error",
            `--stanza=${env.PGBACKREST_STANZA}`,
            "info",
            "--output=json",
          ],
          { env: { ...process.env, ...transport, PGBACKREST_REPO1_CIPHER_PASS: pass }, timeoutMs: 120_000 },
        );
        const info = r.code === 0 ? parsePgbackrestInfo(r.stdout) : undefined;
        if (!info)
          problems.push(
            `cannot read the pgBackRest repository: ${
              r.stderr
                .split("\n")
                .find((l) => /ERROR/.test(l))
                ?.trim() ?? `pgbackrest exited ${r.code}`
            }`,
          );
        else if (info.status.code !== 0)
          problems.push(
            `the pgBackRest repository is not usable: ${info.repo?.[0]?.status.message ?? info.status.message}`,
          );
        else {
          const last = info.backup.at(-1);
          backups.push({ tool: "pgbackrest", id: last?.label, endedAt: last?.timestamp.stop });
        }
      }
    }

    const pw = need("resticPassword");
    if ((await run("restic", ["version"])).code === 127) {
      problems.push(
        "cannot check the newest backup age: restic is not installed on this machine (install pgbackrest and restic, or pass --force to rebuild without this check)",
      );
    } else if (pw !== undefined) {
      const sftp =
        kind === "sftp" && keyFile
          ? [
              "-o",
              `sftp.command=ssh -i ${keyFile} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new ${env.XIOPRO_SFTP_USER}@${env.XIOPRO_SFTP_HOST} -s sftp`,
            ]
          : [];
      const r = await run("restic", [...sftp, "snapshots", "--json", "--tag", "files", "--no-cache", "--no-lock"], {
        env: { ...process.env, ...transport, RESTIC_REPOSITORY: env.RESTIC_REPOSITORY, RESTIC_PASSWORD: pw },
        timeoutMs: 120_000,
      });
      if (r.code !== 0)
        problems.push(
          `cannot read the restic repository ${env.RESTIC_REPOSITORY}: ${
            r.stderr
              .split("\n")
              .find((l) => /Fatal|error/i.test(l))
              ?.trim() ?? `restic exited ${r.code}`
          }`,
        );
      else {
        const snaps = (JSON.parse(r.stdout || "[]") as { short_id: string; time: string }[] | null) ?? [];
        const last = snaps.sort((a, b) => Date.parse(a.time) - Date.parse(b.time)).at(-1);
        backups.push({
          tool: "restic",
          id: last?.short_id,
          endedAt: last ? Math.floor(Date.parse(last.time) / 1000) : undefined,
        });
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { backups, problems };
}

interface PgbackrestStanzaInfo {
  status: { code: number; message: string };
  repo?: { status: { message: string } }[];
  backup: { label: string; timestamp: { stop: number } }[];
}

/** pgbackrest info --output=json (2.45 can leave raw newlines inside a status message). */
export function parsePgbackrestInfo(text: string): PgbackrestStanzaInfo | undefined {
  try {
    return (JSON.parse(text.replace(/[\u0000-\u001f]+/g, " ")) as PgbackrestStanzaInfo[])[0];
  } catch {
    return undefined;
  }
}

/** JSON over HTTPS with a bearer token; the error names the endpoint, never the token. */
async function api<T>(method: string, url: string, token: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url.replace(/\?.*$/, "")} answered ${res.status} ${text.slice(0, 200)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

export const hcloudApi = (env: NodeJS.ProcessEnv) =>
  (env.XIOPRO_HCLOUD_API ?? "https://api.hetzner.cloud/v1").replace(/\/$/, "");
export const tailscaleApi = (env: NodeJS.ProcessEnv) =>
  (env.XIOPRO_TAILSCALE_API ?? "https://api.tailscale.com").replace(/\/$/, "");

/** Servers of the Hetzner project with these names (the API filters by exact name). */
export async function findServers(names: string[], token: string, env: NodeJS.ProcessEnv): Promise<HcloudServer[]> {
  const out: HcloudServer[] = [];
  for (const name of names) {
    const r = await api<{ servers: HcloudServer[] }>(
      "GET",
      `${hcloudApi(env)}/servers?name=${encodeURIComponent(name)}`,
      token,
    );
    out.push(...r.servers.map((s) => ({ name: s.name, status: s.status })));
  }
  return out;
}

export async function listTailscaleDevices(token: string, env: NodeJS.ProcessEnv): Promise<TailscaleDevice[]> {
  const tailnet = encodeURIComponent(env.TAILSCALE_TAILNET ?? "-");
  const r = await api<{ devices: TailscaleDevice[] }>(
    "GET",
    `${tailscaleApi(env)}/api/v2/tailnet/${tailnet}/devices`,
    token,
  );
  return r.devices.map((d) => ({
    id: d.id,
    name: d.name,
    hostname: d.hostname,
    created: d.created,
    lastSeen: d.lastSeen,
  }));
}

export async function deleteTailscaleDevice(id: string, token: string, env: NodeJS.ProcessEnv): Promise<void> {
  await api("DELETE", `${tailscaleApi(env)}/api/v2/device/${encodeURIComponent(id)}`, token);
}
