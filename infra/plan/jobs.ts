// Scheduled jobs on a node: backups, checks and the restore drill (docs/architecture.md, seed 000
// §10 and seed 001).
// Calendars are systemd OnCalendar expressions (validated by `systemd-analyze calendar` in tests);
// the alert bounds in the observability rules derive from the same table.

export interface JobSpec {
  /** Name in the state file and metrics (xiopro-job NAME). */
  job: string;
  /** The service the timer starts. */
  unit: string;
  timer: string;
  calendar: string;
  jitter: string;
  purpose: string;
  /** The job needs PostgreSQL on the same node. */
  needsPostgres: boolean;
  /** A success older than this is stale (hours). */
  maxAgeHours: number;
}

export const BACKUP_JOBS: JobSpec[] = [
  {
    job: "pgbackrest-full",
    unit: "xiopro-pgbackrest@full.service",
    timer: "xiopro-pgbackrest-full.timer",
    calendar: "Sun *-*-* 01:30:00",
    jitter: "10m",
    purpose: "weekly full base backup (pgBackRest)",
    needsPostgres: true,
    maxAgeHours: 8 * 24,
  },
  {
    job: "pgbackrest-diff",
    unit: "xiopro-pgbackrest@diff.service",
    timer: "xiopro-pgbackrest-diff.timer",
    calendar: "Mon..Sat *-*-* 01:30:00",
    jitter: "10m",
    purpose: "daily differential backup (pgBackRest)",
    needsPostgres: true,
    maxAgeHours: 26,
  },
  {
    job: "pgbackrest-check",
    unit: "xiopro-pgbackrest@check.service",
    timer: "xiopro-pgbackrest-check.timer",
    calendar: "*-*-* 00/6:10:00",
    jitter: "5m",
    purpose: "archive and repository check (pgbackrest check)",
    needsPostgres: true,
    maxAgeHours: 7,
  },
  {
    job: "pgdump",
    unit: "xiopro-pgdump.service",
    timer: "xiopro-pgdump.timer",
    calendar: "*-*-* 02:30:00",
    jitter: "10m",
    purpose: "daily pg_dump -Fc into restic",
    needsPostgres: true,
    maxAgeHours: 26,
  },
  {
    job: "files",
    unit: "xiopro-files-backup.service",
    timer: "xiopro-files-backup.timer",
    calendar: "*-*-* 03:15:00",
    jitter: "10m",
    purpose: "daily restic backup of config and artifacts",
    needsPostgres: false,
    maxAgeHours: 26,
  },
  {
    job: "restic-check",
    unit: "xiopro-restic-check.service",
    timer: "xiopro-restic-check.timer",
    calendar: "Sun *-*-* 04:30:00",
    jitter: "15m",
    purpose: "weekly restic check",
    needsPostgres: false,
    maxAgeHours: 8 * 24,
  },
  {
    job: "restore-drill",
    unit: "xiopro-restore-drill.service",
    timer: "xiopro-restore-drill.timer",
    calendar: "Sat *-*-* 05:00:00",
    jitter: "15m",
    purpose: "weekly restore drill into a scratch cluster",
    needsPostgres: true,
    maxAgeHours: 8 * 24,
  },
];

export const SWEEPER_CALENDAR = "*-*-* *:*:00";

export function jobsFor(services: readonly string[]): JobSpec[] {
  if (!services.includes("backup")) return [];
  return BACKUP_JOBS.filter((j) => !j.needsPostgres || services.includes("postgresql"));
}
