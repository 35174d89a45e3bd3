// How this machine reaches a stack's off-host repository: the node's rendered settings and the
// stack's secrets, as environment variables and options for pgBackRest and restic (never a secret
// on a command line). Used by the rebuild preflight and the Pulumi state backup.
import * as fs from "node:fs";
import * as path from "node:path";
import { backupSettings } from "../../cloud-init/configs.js";
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import type { Secrets } from "./stack.js";

export interface RepositoryAccess {
  /** The node whose rendered backup settings these are (the one with the backup service). */
  node: NodePlan;
  settings: Record<string, string>;
  /** Transport secrets for both tools (S3 keys; the SFTP key file for pgBackRest). */
  transport: NodeJS.ProcessEnv;
  /** restic's options (the SFTP command) and environment (repository, password, transport). */
  resticArgs: string[];
  resticEnv?: NodeJS.ProcessEnv;
  /** Secrets the stack does not have here (never their values). */
  problems: string[];
}

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
 * The stack's repository as seen from this machine; `tmp` (private to the caller, removed by it)
 * holds an SFTP key file. Undefined when no node runs the backup service.
 */
export function repositoryAccess(plan: Plan, secrets: Secrets, tmp: string): RepositoryAccess | undefined {
  const node = plan.nodes.find((n) => n.services.some((s) => s.name === "backup"));
  if (!node) return undefined;
  const settings = backupSettings(plan, node);
  const kind = plan.backup.repository.kind;
  const problems: string[] = [];
  const need = (key: string) => secretFor(secrets, key, problems);
  const transport: NodeJS.ProcessEnv = {};
  const resticArgs: string[] = [];
  if (kind === "s3") {
    const [a, s] = [need("backupS3AccessKey"), need("backupS3SecretKey")];
    Object.assign(transport, {
      AWS_ACCESS_KEY_ID: a,
      AWS_SECRET_ACCESS_KEY: s,
      AWS_DEFAULT_REGION: settings.AWS_DEFAULT_REGION,
      PGBACKREST_REPO1_S3_KEY: a,
      PGBACKREST_REPO1_S3_KEY_SECRET: s,
    });
  }
  if (kind === "sftp") {
    const key = need("backupSftpPrivateKey");
    if (key !== undefined) {
      const keyFile = path.join(tmp, "sftp-key");
      fs.writeFileSync(keyFile, key.endsWith("\n") ? key : `${key}\n`, { mode: 0o600 });
      transport.PGBACKREST_REPO1_SFTP_PRIVATE_KEY_FILE = keyFile;
      resticArgs.push(
        "-o",
        `sftp.command=ssh -i ${keyFile} -p ${settings.XIOPRO_SFTP_PORT} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new ${settings.XIOPRO_SFTP_USER}@${settings.XIOPRO_SFTP_HOST} -s sftp`,
      );
    }
  }
  const password = need("resticPassword");
  const resticEnv =
    password === undefined
      ? undefined
      : { ...transport, RESTIC_REPOSITORY: settings.RESTIC_REPOSITORY, RESTIC_PASSWORD: password };
  return { node, settings, transport, resticArgs, resticEnv, problems };
}
