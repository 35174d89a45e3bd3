import { libFile } from "../layout.js";
import type { CredentialSpec, ServiceSpec } from "../service-spec.js";

const WITH_DATABASE = { service: "postgresql", on: "same-node" } as const;
/** pgBackRest's readers: the archive command (in the cluster's unit), its jobs and the drill. */
const PGBACKREST_UNITS = ["postgresql@.service", "xiopro-pgbackrest@.service", "xiopro-restore-drill.service"];
const RESTIC_UNITS = ["xiopro-pgdump.service", "xiopro-files-backup.service", "xiopro-restic-check.service"];
const pgbackrest = (id: string) => PGBACKREST_UNITS.map((unit) => ({ unit, id, when: [WITH_DATABASE] }));
const restic = (id: string) => RESTIC_UNITS.map((unit) => ({ unit, id }));
/** A credential of repository `repo` (repo1 at Hetzner, the off-site repo2): both tools read it. */
const repository = (
  repo: "repository" | "offsite",
  file: string,
  key: string,
  kind: string,
  description: string,
): CredentialSpec => ({
  file,
  source: { key },
  description,
  when: [{ setting: `backup.${repo}.kind`, equals: kind }],
  grants: [...pgbackrest(file), ...restic(file)],
});

export const backup: ServiceSpec = {
  name: "backup",
  configs: ["backup-env", "pgbackrest-conf"],
  description: "pgBackRest and restic jobs with their timers, and the restore drill",
  units: [],
  timers: [],
  singleton: true,
  // The jobs and the archive command need the repository's credentials, which arrive after boot.
  files: [
    { template: "cloud-init/files/xiopro-backup", path: libFile("xiopro-backup"), afterBoot: true },
    { template: "cloud-init/files/xiopro-repository.sh", path: libFile("xiopro-repository.sh"), afterBoot: true },
  ],
  // Backups, checks and the restore drill: calendars in UTC, bounds for acceptance and the alerts.
  jobs: [
    {
      job: "pgbackrest-full",
      unit: "xiopro-pgbackrest@full.service",
      timer: "xiopro-pgbackrest-full.timer",
      calendar: "Sun *-*-* 01:30:00",
      jitter: "10m",
      purpose: "weekly full base backup (pgBackRest)",
      requires: ["postgresql"],
      maxAgeHours: 8 * 24,
    },
    {
      job: "pgbackrest-diff",
      unit: "xiopro-pgbackrest@diff.service",
      timer: "xiopro-pgbackrest-diff.timer",
      calendar: "Mon..Sat *-*-* 01:30:00",
      jitter: "10m",
      purpose: "daily differential backup (pgBackRest)",
      requires: ["postgresql"],
      maxAgeHours: 26,
    },
    {
      job: "pgbackrest-check",
      unit: "xiopro-pgbackrest@check.service",
      timer: "xiopro-pgbackrest-check.timer",
      // Hourly: after a repository outage that dropped WAL, this job takes the full backup.
      calendar: "*-*-* *:10:00",
      jitter: "5m",
      purpose: "archive and repository check (pgbackrest check); a full backup after dropped WAL",
      requires: ["postgresql"],
      maxAgeHours: 2,
    },
    {
      job: "pgbackrest-verify",
      unit: "xiopro-pgbackrest@verify.service",
      timer: "xiopro-pgbackrest-verify.timer",
      calendar: "Wed *-*-* 04:00:00",
      jitter: "30m",
      purpose: "weekly read-back of every repository file against its checksum (pgbackrest verify)",
      requires: ["postgresql"],
      maxAgeHours: 8 * 24,
    },
    {
      job: "pgdump",
      unit: "xiopro-pgdump.service",
      timer: "xiopro-pgdump.timer",
      calendar: "*-*-* 02:30:00",
      jitter: "10m",
      purpose: "daily pg_dump -Fc into restic",
      requires: ["postgresql"],
      maxAgeHours: 26,
    },
    {
      job: "files",
      unit: "xiopro-files-backup.service",
      timer: "xiopro-files-backup.timer",
      calendar: "*-*-* 03:15:00",
      jitter: "10m",
      purpose: "daily restic backup of config and artifacts",
      maxAgeHours: 26,
    },
    {
      job: "restic-check",
      unit: "xiopro-restic-check.service",
      timer: "xiopro-restic-check.timer",
      calendar: "Sun *-*-* 04:30:00",
      jitter: "15m",
      purpose: "weekly restic check, reading a rotating twelfth of the data",
      maxAgeHours: 8 * 24,
    },
    {
      job: "restore-drill",
      unit: "xiopro-restore-drill.service",
      timer: "xiopro-restore-drill.timer",
      calendar: "Sat *-*-* 05:00:00",
      jitter: "15m",
      purpose: "weekly restore drill into a scratch cluster",
      requires: ["postgresql"],
      maxAgeHours: 8 * 24,
    },
  ],
  credentials: [
    {
      file: "restic-password",
      source: { key: "resticPassword" },
      description: "restic repository password",
      grants: restic("restic-password"),
    },
    {
      file: "pgbackrest-cipher-pass",
      source: { key: "pgbackrestCipherPass" },
      description: "pgBackRest repository cipher passphrase",
      when: [WITH_DATABASE],
      grants: pgbackrest("pgbackrest-cipher-pass"),
    },
    repository(
      "repository",
      "repo-s3-access-key",
      "backupS3AccessKey",
      "s3",
      "Object Storage access key of the backup bucket",
    ),
    repository(
      "repository",
      "repo-s3-secret-key",
      "backupS3SecretKey",
      "s3",
      "Object Storage secret key of the backup bucket",
    ),
    repository(
      "repository",
      "repo-sftp-key",
      "backupSftpPrivateKey",
      "sftp",
      "SSH private key of the Storage Box sub-account",
    ),
    repository("offsite", "repo2-s3-access-key", "backupOffsiteS3AccessKey", "s3", "Access key of the off-site bucket"),
    repository("offsite", "repo2-s3-secret-key", "backupOffsiteS3SecretKey", "s3", "Secret key of the off-site bucket"),
    repository(
      "offsite",
      "repo2-sftp-key",
      "backupOffsiteSftpPrivateKey",
      "sftp",
      "SSH private key of the off-site SFTP account",
    ),
  ],
  packages: { names: ["pgbackrest", "restic"] },
  interfaces: [],
};
