// Resource budgets per node, scaled from docs/architecture.md, seed 001's measured numbers at 30 GB of RAM (docs/architecture.md)
// (PostgreSQL step 18 tuning; agentd cgroup caps from the resource budget table).
// Linear in RAM with floors, so a 4 GB tst node gets a working, smaller copy of prd.

export interface UnitBudget {
  memoryHighMb: number;
  memoryMaxMb: number;
  /** CPUQuota in percent of one core. */
  cpuQuotaPercent: number;
  tasksMax: number;
}

export interface NodeBudget {
  postgres: {
    sharedBuffersMb: number;
    effectiveCacheSizeMb: number;
    workMemMb: number;
    maintenanceWorkMemMb: number;
    maxConnections: number;
    autovacuumVacuumScaleFactor: number;
    unit: UnitBudget;
  };
  agentdWeb: UnitBudget;
  /** Per worker instance. */
  agentdWorker: UnitBudget;
  agentdSweeper: UnitBudget;
  /** RAM kept free for SSH, the overlay and recovery commands (docs/architecture.md, seed 000 §11.10.3). */
  headroomMb: number;
}

const REFERENCE_GB = 30;
const round = (mb: number, step = 16) => Math.max(step, Math.round(mb / step) * step);

export function nodeBudget(memoryGb: number, cores: number, workers: number): NodeBudget {
  const f = memoryGb / REFERENCE_GB;
  const scale = (mb: number, floor: number) => Math.max(floor, round(mb * f));
  const pgMax = scale(6144, 768);
  const workersTotalMax = scale(6144, 512);
  const perWorkerMax = Math.max(256, round(workersTotalMax / Math.max(1, workers)));
  return {
    postgres: {
      sharedBuffersMb: scale(4096, 128),
      effectiveCacheSizeMb: scale(12288, 512),
      workMemMb: Math.max(4, Math.min(32, Math.round(32 * f))),
      maintenanceWorkMemMb: scale(512, 64),
      maxConnections: 50,
      autovacuumVacuumScaleFactor: 0.05,
      unit: {
        memoryHighMb: round(pgMax * 0.85),
        memoryMaxMb: pgMax,
        cpuQuotaPercent: 100 * Math.max(1, Math.min(4, cores)),
        tasksMax: 512,
      },
    },
    agentdWeb: {
      memoryHighMb: round(scale(1024, 256) * 0.75),
      memoryMaxMb: scale(1024, 256),
      cpuQuotaPercent: 100,
      tasksMax: 256,
    },
    agentdWorker: {
      memoryHighMb: round(perWorkerMax * 0.8),
      memoryMaxMb: perWorkerMax,
      cpuQuotaPercent: 100 * Math.max(1, Math.min(2, cores)),
      tasksMax: 512,
    },
    agentdSweeper: { memoryHighMb: 96, memoryMaxMb: 128, cpuQuotaPercent: 50, tasksMax: 32 },
    headroomMb: Math.max(512, round(memoryGb * 1024 * 0.1)),
  };
}
