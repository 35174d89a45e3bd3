// Monitoring configs of the node that runs the `monitoring` service: Prometheus (scrapes and
// rules), Alertmanager (routing by severity, delivery secrets as systemd credentials), the
// blackbox exporter (site and certificate probes) and Grafana provisioning.
// They travel in the operations bundle over the admin path, not in user-data (ADR 0002): rules
// and dashboards change often and must never replace a server. Only the package defaults that
// keep the daemons off public interfaces are in user-data (early files).
import { stringify } from "yaml";
import type { NodePlan, Plan } from "../infra/plan/index.js";
import { ruleFile, type Severity } from "../infra/plan/alerts.js";
import { overviewDashboard } from "../infra/plan/dashboard.js";
import { credentialLines } from "../infra/config/secrets.js";
import type { WriteFile } from "./render.js";
import { NODE_LAYOUT } from "../infra/catalog/layout.js";
import { SERVICE_CATALOG } from "../infra/catalog/services.js";

const HEADER = "# Rendered by xiopro-infra from the stack plan; do not edit on the host.";
const has = (node: NodePlan, service: string) => node.services.some((s) => s.name === service);
const port = (node: NodePlan, iface: string) =>
  node.services.flatMap((s) => s.interfaces).find((i) => i.name === iface)!.port;

export const PROMETHEUS_DIR = "/etc/prometheus";
export const RULES_PATH = `${PROMETHEUS_DIR}/rules/xiopro.rules.yml`;
export const DASHBOARD_DIR = `${NODE_LAYOUT.XIOPRO_HOME}/dashboards`;
const CRED_DIR = "/run/credentials/prometheus-alertmanager.service";

export function monitoringNode(plan: Plan): NodePlan | undefined {
  return plan.nodes.find((n) => has(n, "monitoring"));
}

/** Prometheus's configuration of the monitoring node, as data (acceptance reads its scrape jobs). */
export function prometheusDocument(plan: Plan, mon: NodePlan) {
  const target = (n: NodePlan, iface: string) => ({
    targets: [`${n.privateIp}:${port(n, iface)}`],
    labels: { node: n.name },
  });
  // Every interface whose descriptor names a scrape job: private ones on each node that runs the
  // service, localhost ones on this node.
  const scraped = Object.values(SERVICE_CATALOG).flatMap((s) =>
    s.interfaces.flatMap((i) => (i.scrapeJob ? [{ service: s.name, iface: i, job: i.scrapeJob }] : [])),
  );
  const scrapeConfigs = scraped.flatMap(({ service, iface, job }) => {
    if (iface.bind === "localhost")
      return has(mon, service)
        ? [{ job_name: job, static_configs: [{ targets: [`127.0.0.1:${iface.port}`], labels: { node: mon.name } }] }]
        : [];
    const nodes = plan.nodes.filter((n) => has(n, service));
    return nodes.length === 0 ? [] : [{ job_name: job, static_configs: nodes.map((n) => target(n, iface.name)) }];
  });
  const sites = plan.nodes.flatMap((n) =>
    n.sites.map((s) => ({
      targets: [`https://${s.hostname}/`],
      labels: { site: s.hostname, node: mon.name, tls: plan.ingress.tls },
    })),
  );
  const doc = {
    global: {
      scrape_interval: "30s",
      evaluation_interval: "30s",
      external_labels: { environment: plan.environment, stack: plan.stack },
    },
    rule_files: ["rules/*.yml"],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${port(mon, "alertmanager")}`] }] }] },
    scrape_configs: [
      ...scrapeConfigs,
      ...(sites.length === 0
        ? []
        : [
            {
              job_name: "sites",
              metrics_path: "/probe",
              params: { module: [plan.ingress.tls === "internal" ? "https_internal_ca" : "https_public"] },
              static_configs: sites,
              // The probe URL becomes the ?target= parameter; the exporter is the address scraped.
              relabel_configs: [
                { source_labels: ["__address__"], target_label: "__param_target" },
                { source_labels: ["__param_target"], target_label: "instance" },
                { target_label: "__address__", replacement: `127.0.0.1:${port(mon, "blackbox")}` },
              ],
            },
          ]),
    ],
  };
  return doc;
}

export function prometheusConfig(plan: Plan, mon: NodePlan): string {
  return `${HEADER}\n${stringify(prometheusDocument(plan, mon), { lineWidth: 0 })}`;
}

export function rulesYaml(): string {
  return `${HEADER}\n# Source: infra/plan/alerts.ts; tests: test/promtool/alerts*.test.yml.\n${stringify(ruleFile(), { lineWidth: 0 })}`;
}

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export function alertmanagerConfig(plan: Plan): string {
  const m = plan.monitoring;
  const email = m.email ? [{ to: m.email.to.join(", "), send_resolved: true }] : undefined;
  const webhook = m.webhook
    ? [
        {
          url: m.webhook.url,
          send_resolved: true,
          http_config: { authorization: { type: "Bearer", credentials_file: `${CRED_DIR}/alert-webhook-token` } },
        },
      ]
    : undefined;
  const receivers: Record<string, unknown>[] = [{ name: "none" }];
  const receiverFor = (sev: Severity): string => {
    const hook = m.webhook && RANK[sev] >= RANK[m.webhook.minSeverity] ? webhook : undefined;
    // Info alerts (scaling triggers, 70 % disk) are for review: mail them only through the webhook.
    const mail = sev !== "info" ? email : undefined;
    if (!hook && !mail) return "none";
    const name = [mail && "email", hook && "webhook"].filter(Boolean).join("-");
    if (!receivers.some((r) => r.name === name))
      receivers.push({ name, ...(mail ? { email_configs: mail } : {}), ...(hook ? { webhook_configs: hook } : {}) });
    return name;
  };
  const doc = {
    global: {
      resolve_timeout: "5m",
      ...(m.email
        ? {
            smtp_smarthost: m.email.smarthost,
            smtp_from: m.email.from,
            smtp_require_tls: true,
            ...(m.email.username
              ? { smtp_auth_username: m.email.username, smtp_auth_password_file: `${CRED_DIR}/alert-smtp-password` }
              : {}),
          }
        : {}),
    },
    route: {
      receiver: "none",
      group_by: ["alertname", "node"],
      group_wait: "30s",
      group_interval: "5m",
      repeat_interval: "12h",
      routes: [
        { matchers: ['severity="critical"'], receiver: receiverFor("critical"), repeat_interval: "1h" },
        { matchers: ['severity="warning"'], receiver: receiverFor("warning"), repeat_interval: "4h" },
        { matchers: ['severity="info"'], receiver: receiverFor("info"), repeat_interval: "24h" },
      ],
    },
    // A critical disk alert silences the warning and info ones of the same filesystem, and so on.
    inhibit_rules: [
      {
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity=~"warning|info"'],
        equal: ["node", "mountpoint"],
      },
      { source_matchers: ['severity="warning"'], target_matchers: ['severity="info"'], equal: ["node", "mountpoint"] },
      { source_matchers: ['alertname="NodeDown"'], target_matchers: ['alertname="TargetDown"'], equal: ["node"] },
    ],
    receivers,
  };
  return `${HEADER}\n${stringify(doc, { lineWidth: 0 })}`;
}

export function blackboxConfig(): string {
  const https = (verify: boolean) => ({
    prober: "http",
    timeout: "10s",
    http: {
      method: "GET",
      preferred_ip_protocol: "ip4",
      fail_if_not_ssl: true,
      valid_status_codes: [200, 204, 301, 302, 401, 403, 404],
      ...(verify ? {} : { tls_config: { insecure_skip_verify: true } }),
    },
  });
  // https_internal_ca: Caddy's internal CA (tls internal) is not in the trust store; expiry is not alerted.
  return `${HEADER}\n${stringify({ modules: { https_public: https(true), https_internal_ca: https(false) } })}`;
}

function grafanaFiles(plan: Plan, mon: NodePlan): WriteFile[] {
  const datasource = {
    apiVersion: 1,
    datasources: [
      {
        name: "Prometheus",
        uid: "xiopro-prometheus",
        type: "prometheus",
        access: "proxy",
        url: `http://${mon.privateIp}:${port(mon, "prometheus")}`,
        isDefault: true,
        editable: false,
      },
    ],
  };
  const provider = {
    apiVersion: 1,
    providers: [
      {
        name: "xiopro",
        folder: "xiopro",
        type: "file",
        disableDeletion: true,
        allowUiUpdates: false,
        options: { path: DASHBOARD_DIR },
      },
    ],
  };
  return [
    {
      path: "/etc/grafana/provisioning/datasources/xiopro.yaml",
      content: `${HEADER}\n${stringify(datasource)}`,
      permissions: "0644",
    },
    {
      path: "/etc/grafana/provisioning/dashboards/xiopro.yaml",
      content: `${HEADER}\n${stringify(provider)}`,
      permissions: "0644",
    },
    {
      path: `${DASHBOARD_DIR}/overview.json`,
      content: `${JSON.stringify(overviewDashboard(plan))}\n`,
      permissions: "0644",
    },
  ];
}

/** Stack facts as metrics (textfile collector), so Grafana can draw the cost trend. */
export function stackMetrics(plan: Plan): string {
  const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  const lines = [
    "# HELP xiopro_stack_monthly_cost_eur Monthly net cost of the stack from the price catalog.",
    "# TYPE xiopro_stack_monthly_cost_eur gauge",
    `xiopro_stack_monthly_cost_eur{stack="${esc(plan.stack)}",catalog_date="${plan.cost.catalogDate}"} ${plan.cost.monthlyEur}`,
    "# HELP xiopro_stack_resource_monthly_cost_eur Monthly net cost per priced resource.",
    "# TYPE xiopro_stack_resource_monthly_cost_eur gauge",
    ...plan.cost.lines.map(
      (l) =>
        `xiopro_stack_resource_monthly_cost_eur{stack="${esc(plan.stack)}",resource="${esc(l.resource)}",kind="${l.kind}"} ${l.monthlyEur}`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}

/** Early package defaults (user-data): the daemons start on install, so they must never listen
 * beyond their class before the bundle arrives. */
export function monitoringDefaults(plan: Plan, node: NodePlan): WriteFile[] {
  if (!has(node, "monitoring")) return [];
  const m = plan.monitoring;
  return [
    {
      path: "/etc/default/prometheus",
      content: `${HEADER}\nARGS="--web.listen-address=${node.privateIp}:${port(node, "prometheus")} --storage.tsdb.retention.time=${m.retentionDays}d --storage.tsdb.retention.size=${m.retentionSizeGb}GB"\n`,
      permissions: "0644",
      early: true,
    },
    {
      path: "/etc/default/prometheus-alertmanager",
      content: `${HEADER}\n# Clustering off: no gossip port (9094).\nARGS="--web.listen-address=127.0.0.1:${port(node, "alertmanager")} --cluster.listen-address="\n`,
      permissions: "0644",
      early: true,
    },
    {
      path: "/etc/default/prometheus-blackbox-exporter",
      content: `${HEADER}\nARGS="--config.file=${PROMETHEUS_DIR}/blackbox.yml --web.listen-address=127.0.0.1:${port(node, "blackbox")}"\n`,
      permissions: "0644",
      early: true,
    },
  ];
}

/** Unit drop-ins that carry credentials (part of the operations bundle). */
function monitoringUnits(node: NodePlan): WriteFile[] {
  const out: WriteFile[] = [];
  const am = credentialLines(node.secrets, "prometheus-alertmanager.service");
  if (am)
    out.push({
      path: "/etc/systemd/system/prometheus-alertmanager.service.d/50-xiopro.conf",
      content: `${HEADER}\n[Service]\n${am}\n`,
      permissions: "0644",
    });
  if (has(node, "grafana")) {
    const gf = credentialLines(node.secrets, "grafana-server.service");
    const env = [
      `GF_SERVER_HTTP_PORT=${port(node, "grafana")}`,
      "GF_SECURITY_ADMIN_USER=admin",
      "GF_SECURITY_ADMIN_PASSWORD__FILE=%d/grafana-admin-password",
      "GF_USERS_ALLOW_SIGN_UP=false",
      "GF_AUTH_ANONYMOUS_ENABLED=false",
      "GF_ANALYTICS_REPORTING_ENABLED=false",
      "GF_ANALYTICS_CHECK_FOR_UPDATES=false",
    ];
    out.push({
      path: "/etc/systemd/system/grafana-server.service.d/50-xiopro.conf",
      content: `${HEADER}\n[Service]\n${gf}\n${env.map((e) => `Environment=${e}`).join("\n")}\n`,
      permissions: "0644",
    });
  }
  return out;
}

/** The monitoring files of the operations bundle (none when the node runs no monitoring). */
export function monitoringFiles(plan: Plan, node: NodePlan): WriteFile[] {
  if (!has(node, "monitoring")) return [];
  return [
    { path: `${PROMETHEUS_DIR}/prometheus.yml`, content: prometheusConfig(plan, node), permissions: "0644" },
    { path: RULES_PATH, content: rulesYaml(), permissions: "0644" },
    { path: `${PROMETHEUS_DIR}/alertmanager.yml`, content: alertmanagerConfig(plan), permissions: "0644" },
    { path: `${PROMETHEUS_DIR}/blackbox.yml`, content: blackboxConfig(), permissions: "0644" },
    { path: `${NODE_LAYOUT.XIOPRO_METRICS_DIR}/xiopro_stack.prom`, content: stackMetrics(plan), permissions: "0644" },
    ...monitoringUnits(node),
    ...(has(node, "grafana") ? grafanaFiles(plan, node) : []),
  ];
}
