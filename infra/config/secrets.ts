// The secret inventory: every secret a node needs, who may read it (units), and how it is
// exposed inside the unit (credential id). Values never pass through here: only names.
// Delivery stores each as /etc/credstore.encrypted/<file> (systemd-creds, host key), and units
// read them with LoadCredentialEncrypted= (docs/architecture.md D3).
import type { StackConfig } from "./keys.js";
import { NODE_LAYOUT, WAL_RECEIVER } from "../catalog/layout.js";

export interface SecretGrant {
  /** Unit that may read the secret. */
  unit: string;
  /** Credential id inside the unit ($CREDENTIALS_DIRECTORY/<id>). UPPER_SNAKE ids become env vars via agentd-exec. */
  id: string;
}

export interface SecretPlan {
  /** File name under /etc/credstore.encrypted/. */
  file: string;
  /** generated: random, owned by the stack; config: `pulumi config set --secret` by the operator. */
  source: "generated" | "config";
  /** Config key (and entry, for maps) that holds the value, for config secrets. */
  configKey?: string;
  configEntry?: string;
  description: string;
  grants: SecretGrant[];
}

export const CREDSTORE = NODE_LAYOUT.XIOPRO_CREDSTORE;
/** Fallback value of a credential that was not delivered yet (systemd rejects an empty one).
 * cloud-init/files/xiopro-lib.sh and agentd-exec recognise it; a test keeps them in step. */
export const UNDELIVERED = "xiopro-credential-not-delivered";

const PG_CLUSTER_UNIT = "postgresql@.service";
const BACKUP_JOB_UNITS = ["xiopro-pgbackrest@.service", "xiopro-restore-drill.service"];
const RESTIC_UNITS = ["xiopro-pgdump.service", "xiopro-files-backup.service", "xiopro-restic-check.service"];

/** Secrets a node needs, derived from the services it runs and the backup repository kind. */
export function nodeSecrets(config: StackConfig, services: readonly string[]): SecretPlan[] {
  const out: SecretPlan[] = [];
  const has = (s: string) => services.includes(s);
  if (has("postgresql")) {
    const roles: [string, string[]][] = [
      ["api", has("agentd-web") ? ["agentd-web.service"] : []],
      [
        "worker",
        [
          ...(has("agentd-worker") ? ["agentd-worker@.service"] : []),
          ...(has("agentd-sweeper") ? ["agentd-sweeper.service"] : []),
        ],
      ],
      ["backup", has("backup") ? ["xiopro-pgdump.service"] : []],
      ["readonly", []],
    ];
    for (const [role, units] of roles) {
      out.push({
        file: `pg-role-${role}`,
        source: "generated",
        description: `PostgreSQL password of role xiopro_${role}`,
        grants: [
          { unit: "xiopro-postgres-roles.service", id: `pg-role-${role}` },
          ...units.map((unit) => ({
            unit,
            id: unit === "xiopro-pgdump.service" ? "pg-role-backup" : "DATABASE_PASSWORD",
          })),
        ],
      });
    }
  }
  // The WAL receiver's replication role: set on the database node, used on the receiver's node.
  const receiverRole = (unit: string): SecretPlan => ({
    file: "pg-role-walreceiver",
    source: "generated",
    description: `PostgreSQL password of the replication role ${WAL_RECEIVER.role} (pg_receivewal)`,
    grants: [{ unit, id: "pg-role-walreceiver" }],
  });
  if (has("postgresql") && stackRunsWalReceiver(config)) out.push(receiverRole("xiopro-postgres-roles.service"));
  if (has("wal-receiver")) out.push(receiverRole("xiopro-walreceiver.service"));
  if (has("backup")) {
    const kind = config.backup.repository.kind;
    const pgb = has("postgresql") ? [PG_CLUSTER_UNIT, ...BACKUP_JOB_UNITS] : [];
    const both = [...pgb, ...RESTIC_UNITS];
    const grant = (units: string[], id: string) => units.map((unit) => ({ unit, id }));
    out.push({
      file: "restic-password",
      source: "config",
      configKey: "resticPassword",
      description: "restic repository password",
      grants: grant(RESTIC_UNITS, "restic-password"),
    });
    if (pgb.length > 0)
      out.push({
        file: "pgbackrest-cipher-pass",
        source: "config",
        configKey: "pgbackrestCipherPass",
        description: "pgBackRest repository cipher passphrase",
        grants: grant(pgb, "pgbackrest-cipher-pass"),
      });
    if (kind === "s3") {
      out.push({
        file: "repo-s3-access-key",
        source: "config",
        configKey: "backupS3AccessKey",
        description: "Object Storage access key of the backup bucket",
        grants: grant(both, "repo-s3-access-key"),
      });
      out.push({
        file: "repo-s3-secret-key",
        source: "config",
        configKey: "backupS3SecretKey",
        description: "Object Storage secret key of the backup bucket",
        grants: grant(both, "repo-s3-secret-key"),
      });
    }
    if (kind === "sftp")
      out.push({
        file: "repo-sftp-key",
        source: "config",
        configKey: "backupSftpPrivateKey",
        description: "SSH private key of the Storage Box sub-account",
        grants: grant(both, "repo-sftp-key"),
      });
  }
  if (has("monitoring")) {
    const am = "prometheus-alertmanager.service";
    if (config.monitoring.email?.username)
      out.push({
        file: "alert-smtp-password",
        source: "config",
        configKey: "alertSmtpPassword",
        description: "SMTP password for alert e-mail",
        grants: [{ unit: am, id: "alert-smtp-password" }],
      });
    if (config.monitoring.webhook)
      out.push({
        file: "alert-webhook-token",
        source: "config",
        configKey: "alertWebhookToken",
        description: "bearer token of the alert webhook",
        grants: [{ unit: am, id: "alert-webhook-token" }],
      });
  }
  if (has("grafana"))
    out.push({
      file: "grafana-admin-password",
      source: "generated",
      description: "Grafana admin password",
      grants: [{ unit: "grafana-server.service", id: "grafana-admin-password" }],
    });
  const envFile = (prefix: string, env: string) => `${prefix}-${env.toLowerCase().replace(/_/g, "-")}`;
  if (has("agentd-worker")) {
    for (const env of Object.keys(config.providerKeys ?? {}).sort()) {
      out.push({
        file: envFile("provider", env),
        source: "config",
        configKey: "providerKeys",
        configEntry: env,
        description: `provider key ${env} (agentd workers)`,
        grants: [{ unit: "agentd-worker@.service", id: env }],
      });
    }
  }
  if (has("agentd-web")) {
    for (const env of Object.keys(config.webSecrets ?? {}).sort()) {
      out.push({
        file: envFile("web", env),
        source: "config",
        configKey: "webSecrets",
        configEntry: env,
        description: `web secret ${env} (agentd-web)`,
        grants: [{ unit: "agentd-web.service", id: env }],
      });
    }
  }
  return out;
}

/** Whether an enabled node of the stack runs the WAL receiver (backup.walReceiver). */
export function stackRunsWalReceiver(config: StackConfig): boolean {
  return (["nodeA", "nodeC", "nodeD"] as const).some(
    (k) => config[k].enabled && config[k].services.includes("wal-receiver"),
  );
}

/** The unit's `LoadCredentialEncrypted=` lines, each with a `SetCredential=` fallback (systemd uses
 * it when the encrypted file cannot be loaded), so a missing credential is reported by the unit's
 * own program with a clear message (and a state file for jobs) instead of a bare start failure. */
export function credentialLines(secrets: readonly SecretPlan[], unit: string): string {
  const lines: string[] = [];
  for (const s of secrets) {
    for (const g of s.grants.filter((x) => x.unit === unit)) {
      lines.push(`LoadCredentialEncrypted=${g.id}:${CREDSTORE}/${s.file}`, `SetCredential=${g.id}:${UNDELIVERED}`);
    }
  }
  return lines.join("\n");
}

/** Config keys holding secrets that the stack needs, with why; besides the delivered credentials
 * this covers the Tailscale join key and the admin key Pulumi delivers with. */
export function requiredSecretKeys(
  config: StackConfig,
  nodeServices: readonly (readonly string[])[],
): { key: string; why: string }[] {
  const out = new Map<string, string>();
  for (const services of nodeServices) {
    for (const s of nodeSecrets(config, services))
      if (s.configKey && !s.configEntry) out.set(s.configKey, s.description);
  }
  if (config.adminPath.mode === "tailscale")
    out.set("tailscaleAuthKey", "joins each node to the tailnet at first boot (admin path tailscale)");
  if (out.size > 0 || nodeServices.some((s) => s.includes("postgresql")))
    out.set("adminSshPrivateKey", "Pulumi delivers credentials over the admin path with it");
  return [...out].map(([key, why]) => ({ key, why }));
}
