import { libFile } from "../layout.js";
import type { CredentialSpec, ServiceSpec } from "../service-spec.js";

const WITH_DATABASE = { service: "postgresql", on: "same-node" } as const;
/** pgBackRest's readers: the archive command (in the cluster's unit), its jobs and the drill. */
const PGBACKREST_UNITS = ["postgresql@.service", "xiopro-pgbackrest@.service", "xiopro-restore-drill.service"];
const RESTIC_UNITS = ["xiopro-pgdump.service", "xiopro-files-backup.service", "xiopro-restic-check.service"];
const pgbackrest = (id: string) => PGBACKREST_UNITS.map((unit) => ({ unit, id, when: [WITH_DATABASE] }));
const restic = (id: string) => RESTIC_UNITS.map((unit) => ({ unit, id }));
/** A repository credential: both tools read it. */
const repository = (file: string, key: string, kind: string, description: string): CredentialSpec => ({
  file,
  source: { key },
  description,
  when: [{ setting: "backup.repository.kind", equals: kind }],
  grants: [...pgbackrest(file), ...restic(file)],
});

export const backup: ServiceSpec = {
  name: "backup",
  description: "pgBackRest and restic jobs with their timers, and the restore drill",
  units: [],
  timers: [],
  singleton: true,
  // Its jobs' units and timers come from its job table (infra/plan/jobs.ts).
  files: [{ template: "cloud-init/files/xiopro-backup", path: libFile("xiopro-backup") }],
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
    repository("repo-s3-access-key", "backupS3AccessKey", "s3", "Object Storage access key of the backup bucket"),
    repository("repo-s3-secret-key", "backupS3SecretKey", "s3", "Object Storage secret key of the backup bucket"),
    repository("repo-sftp-key", "backupSftpPrivateKey", "sftp", "SSH private key of the Storage Box sub-account"),
  ],
  packages: { names: ["pgbackrest", "restic"] },
  interfaces: [],
};
