// How this machine reaches a stack's off-host repositories (1: backup.repository at Hetzner, 2:
// backup.offsite): the node's rendered settings and the stack's secrets, as environment variables and
// options for pgBackRest and restic (never a secret on a command line). Used by the rebuild preflight
// and the Pulumi state backup.
import * as fs from "node:fs";
import * as path from "node:path";
import { backupSettings, pgbackrestConf, repositories, repositorySetting } from "../../cloud-init/configs.js";
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import type { Secrets } from "./stack.js";

export interface RepositoryAccess {
  /** pgBackRest's index: 1 at Hetzner, 2 off-site. */
  repo: number;
  /** The node whose rendered backup settings these are (the one with the backup service). */
  node: NodePlan;
  settings: Record<string, string>;
  /** Transport secrets for both tools (S3 keys; the SFTP key file for pgBackRest). */
  transport: NodeJS.ProcessEnv;
  /** restic's options (the SFTP command) and environment (repository, password, transport). */
  resticArgs: string[];
  resticEnv?: NodeJS.ProcessEnv;
  /** The restic repository URL (for messages: it holds no secret). */
  resticRepository: string;
  /** Secrets the stack does not have here (never their values). */
  problems: string[];
}

/** The plan's repository numbers: [1], or [1, 2] with backup.offsite. */
export const repositoryNumbers = (plan: Plan): number[] => repositories(plan).map(([n]) => n);

/** How messages name a repository. */
export const repositoryName = (repo: number): string => `repository ${repo} (${repo === 1 ? "Hetzner" : "off-site"})`;

/** A secret the repository needs, or a problem that names it (never its value). */
export function secretFor(secrets: Secrets, key: string, problems: string[]): string | undefined {
  const v = secrets[key];
  if (v === undefined)
    problems.push(
      `cannot read the repository: secret ${key} has no value here (pulumi config --show-secrets did not list it)`,
    );
  return v;
}

/**
 * The node's pgbackrest.conf with repository `repo`'s lines alone: pgBackRest asks for every
 * configured repository's secrets even with --repo=N, so one lost account would block reading the other.
 */
export function pgbackrestConfFor(plan: Plan, repo: number): string {
  return pgbackrestConf(plan)
    .split("\n")
    .filter((l) => !/^repo\d+-/.test(l) || l.startsWith(`repo${repo}-`))
    .join("\n");
}

/**
 * Repository `repo` of the stack as seen from this machine; `tmp` (private to the caller, removed by
 * it) holds its SFTP key file. Undefined when no node runs the backup service or the stack has no
 * such repository.
 */
export function repositoryAccess(plan: Plan, secrets: Secrets, tmp: string, repo = 1): RepositoryAccess | undefined {
  const node = plan.nodes.find((n) => n.services.some((s) => s.name === "backup"));
  const r = repositories(plan).find(([n]) => n === repo)?.[1];
  if (!node || !r) return undefined;
  const settings = backupSettings(plan, node);
  const setting = (name: string) => settings[repositorySetting(repo, name)];
  const secretKey = (what: string) => (repo === 1 ? `backup${what}` : `backupOffsite${what}`);
  const problems: string[] = [];
  const need = (key: string) => secretFor(secrets, key, problems);
  const transport: NodeJS.ProcessEnv = {};
  const resticArgs: string[] = [];
  if (r.kind === "s3") {
    const [a, s] = [need(secretKey("S3AccessKey")), need(secretKey("S3SecretKey"))];
    Object.assign(transport, {
      AWS_ACCESS_KEY_ID: a,
      AWS_SECRET_ACCESS_KEY: s,
      AWS_DEFAULT_REGION: setting("AWS_DEFAULT_REGION"),
      [`PGBACKREST_REPO${repo}_S3_KEY`]: a,
      [`PGBACKREST_REPO${repo}_S3_KEY_SECRET`]: s,
    });
  }
  if (r.kind === "sftp") {
    const key = need(secretKey("SftpPrivateKey"));
    if (key !== undefined) {
      const keyFile = path.join(tmp, `repo${repo}-sftp-key`);
      fs.writeFileSync(keyFile, key.endsWith("\n") ? key : `${key}\n`, { mode: 0o600 });
      transport[`PGBACKREST_REPO${repo}_SFTP_PRIVATE_KEY_FILE`] = keyFile;
      resticArgs.push(
        "-o",
        `sftp.command=ssh -i ${keyFile} -p ${setting("XIOPRO_SFTP_PORT")} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new ${setting("XIOPRO_SFTP_USER")}@${setting("XIOPRO_SFTP_HOST")} -s sftp`,
      );
    }
  }
  const resticRepository = setting("RESTIC_REPOSITORY")!;
  const password = need("resticPassword");
  const resticEnv =
    password === undefined
      ? undefined
      : { ...transport, RESTIC_REPOSITORY: resticRepository, RESTIC_PASSWORD: password };
  return { repo, node, settings, transport, resticArgs, resticEnv, resticRepository, problems };
}
