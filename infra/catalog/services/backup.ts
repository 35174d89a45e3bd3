import { libFile } from "../layout.js";
import type { ServiceSpec } from "../service-spec.js";

export const backup: ServiceSpec = {
  name: "backup",
  description: "pgBackRest and restic jobs with their timers, and the restore drill",
  units: [],
  timers: [],
  singleton: true,
  // Its jobs' units and timers come from its job table (infra/plan/jobs.ts).
  files: [{ template: "cloud-init/files/xiopro-backup", path: libFile("xiopro-backup") }],
  packages: { names: ["pgbackrest", "restic"] },
  interfaces: [],
};
