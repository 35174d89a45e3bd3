// Scheduled jobs on a node: each service declares its own (its descriptor's `jobs`: backups, checks
// and the restore drill of the backup service). Calendars are systemd OnCalendar expressions
// (validated by `systemd-analyze calendar` in tests); the alert bounds in the observability rules
// derive from the same table.
import { SERVICE_CATALOG, type JobSpec } from "../catalog/services.js";

export type { JobSpec } from "../catalog/services.js";

/** Every scheduled job the catalog knows, in catalog order. */
export const BACKUP_JOBS: readonly JobSpec[] = Object.values(SERVICE_CATALOG).flatMap((s) => s.jobs ?? []);

export const SWEEPER_CALENDAR = "*-*-* *:*:00";

/** The jobs of a node that runs `services`: each service's own, those whose required services run beside it. */
export function jobsFor(services: readonly string[]): JobSpec[] {
  return Object.values(SERVICE_CATALOG)
    .filter((s) => services.includes(s.name))
    .flatMap((s) => (s.jobs ?? []).filter((j) => (j.requires ?? []).every((r) => services.includes(r))));
}
