// The Grafana overview dashboard (docs/architecture.md, seed 000 §12): health, backups, drills, cost trend and
// disk/memory per node. Generated, so every query is checked by promtool in the tests.
import type { Plan } from "./index.js";

export interface PanelSpec {
  title: string;
  type: "stat" | "timeseries" | "table";
  expr: string;
  legend: string;
  unit: string;
  description: string;
}

export const OVERVIEW_PANELS: PanelSpec[] = [
  {
    title: "Nodes up",
    type: "stat",
    expr: 'up{job="node"}',
    legend: "{{node}}",
    unit: "none",
    description: "1 = the node exporter answers",
  },
  {
    title: "Firing alerts",
    type: "table",
    expr: 'ALERTS{alertstate="firing"}',
    legend: "{{alertname}} {{node}}",
    unit: "none",
    description: "What Alertmanager is delivering now",
  },
  {
    title: "Disk used",
    type: "timeseries",
    expr: '100 * (1 - node_filesystem_avail_bytes{fstype=~"ext4|xfs"} / node_filesystem_size_bytes{fstype=~"ext4|xfs"})',
    legend: "{{node}} {{mountpoint}}",
    unit: "percent",
    description: "Alerts at 70/80/85 %",
  },
  {
    title: "Memory used",
    type: "timeseries",
    expr: "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
    legend: "{{node}}",
    unit: "percent",
    description: "Alert and scaling trigger at 75 % for 5/15 minutes",
  },
  {
    title: "Hours since last successful job",
    type: "stat",
    expr: "(time() - xiopro_job_last_success_timestamp_seconds) / 3600",
    legend: "{{name}}",
    unit: "h",
    description: "Backups, checks and the restore drill (bounds in infra/plan/jobs.ts)",
  },
  {
    title: "Last restore drill",
    type: "stat",
    expr: 'xiopro_job_last_result{name="restore-drill"}',
    legend: "{{node}}",
    unit: "none",
    description: "1 = passed, 0 = failed",
  },
  {
    title: "Oldest WAL waiting for the archive",
    type: "timeseries",
    expr: "xiopro_archive_oldest_pending_age_seconds",
    legend: "{{node}}",
    unit: "s",
    description: "The RPO in practice; alert above 300 s",
  },
  {
    title: "Certificate days left",
    type: "stat",
    expr: '(probe_ssl_earliest_cert_expiry{job="sites"} - time()) / 86400',
    legend: "{{site}}",
    unit: "d",
    description: "Alert below 14 days (ACME sites)",
  },
  {
    title: "Monthly cost (EUR, catalog)",
    type: "timeseries",
    expr: "xiopro_stack_monthly_cost_eur",
    legend: "{{stack}} ({{catalog_date}})",
    unit: "currencyEUR",
    description: "From the stack plan at the last deployment",
  },
];

export function overviewDashboard(plan: Plan): Record<string, unknown> {
  const ds = { type: "prometheus", uid: "xiopro-prometheus" };
  return {
    uid: `xiopro-overview-${plan.stack}`,
    title: `xiopro ${plan.stack} overview`,
    tags: ["xiopro", plan.environment],
    timezone: "utc",
    schemaVersion: 39,
    version: 1,
    editable: false,
    refresh: "1m",
    time: { from: "now-24h", to: "now" },
    panels: OVERVIEW_PANELS.map((p, i) => ({
      id: i + 1,
      title: p.title,
      description: p.description,
      type: p.type,
      datasource: ds,
      gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      targets: [
        {
          refId: "A",
          datasource: ds,
          expr: p.expr,
          legendFormat: p.legend,
          ...(p.type === "table" ? { format: "table", instant: true } : {}),
        },
      ],
    })),
  };
}
