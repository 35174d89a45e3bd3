// Observability proof (issue 8): the rendered Prometheus, Alertmanager and blackbox configs pass
// their own tools, every alert fires on a failing series and stays silent on a healthy one
// (promtool test rules), every dashboard query parses, and the exporter's WAL-archive queries
// return the metrics the alerts read from a real PostgreSQL whose archive_command fails.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  alertmanagerConfig,
  monitoringDefaults,
  monitoringFiles,
  prometheusConfig,
  rulesYaml,
} from "../../cloud-init/monitoring.js";
import { opsFiles } from "../../cloud-init/ops-bundle.js";
import { nodeFiles, PG_EXPORTER_QUERIES } from "../../cloud-init/render.js";
import { WAL_RECEIVER } from "../../infra/catalog/layout.js";
import type { Plan } from "../../infra/plan/index.js";
import { ALL_ALERTS } from "../../infra/plan/alerts.js";
import { OVERVIEW_PANELS } from "../../infra/plan/dashboard.js";
import { SERVICE_CATALOG } from "../../infra/catalog/services.js";
import { planOf, ROOT } from "../support/helpers.js";
import { freePort, PG_ROOT } from "../../lab/pg-cluster.js";
import { describeWithTools } from "../support/tools.js";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "monitoring-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const run = (cmd: string, args: string[], cwd?: string) =>
  spawnSync(cmd, args, { encoding: "utf8", timeout: 120_000, cwd });

const VARIANTS: Record<string, () => Plan> = {
  prd: () => planOf("prd"),
  "tst, e-mail and webhook": () =>
    planOf("tst", (c) => {
      c.monitoring = {
        email: {
          to: ["ops@xiopro.example"],
          from: "alerts@xiopro.example",
          smarthost: "smtp.example.com:587",
          username: "alerts",
        },
        webhook: { url: "https://hooks.example.com/xiopro", minSeverity: "info" },
      };
    }),
  "dedicated monitoring node, internal TLS": () =>
    planOf("tst", (c) => {
      c.ingress.tls = "internal";
      c.nodeA.services = c.nodeA.services.filter((s: string) => s !== "monitoring" && s !== "grafana");
      c.nodeD = { enabled: true, serverType: "cpx22", services: ["monitoring", "grafana"] };
      c.monitoring = { webhook: { url: "https://hooks.example.com/xiopro" } };
    }),
};

function monitoringTree(name: string, plan: Plan): string {
  const node = plan.nodes.find((n) => n.services.some((s) => s.name === "monitoring"))!;
  const dir = path.join(work, name.replace(/\W+/g, "-"));
  for (const f of monitoringFiles(plan, node)) {
    fs.mkdirSync(path.dirname(path.join(dir, f.path)), { recursive: true });
    fs.writeFileSync(path.join(dir, f.path), f.content);
  }
  return dir;
}

describe("rendered monitoring configs", () => {
  for (const [name, make] of Object.entries(VARIANTS)) {
    it(`${name}: promtool check config (with the rules), amtool check-config, blackbox --config.check`, () => {
      const plan = make();
      const dir = monitoringTree(name, plan);
      const prom = run("promtool", ["check", "config", path.join(dir, "etc/prometheus/prometheus.yml")]);
      expect(prom.stdout + prom.stderr).toMatch(/SUCCESS: 1 rule files found/);
      expect(prom.stdout + prom.stderr).toMatch(new RegExp(`SUCCESS: ${ALL_ALERTS.length} rules found`));
      expect(prom.status).toBe(0);
      const am = run("amtool", ["check-config", path.join(dir, "etc/prometheus/alertmanager.yml")]);
      expect(am.stdout + am.stderr).toMatch(/SUCCESS/);
      expect(am.status).toBe(0);
      const bb = run("prometheus-blackbox-exporter", [
        "--config.check",
        `--config.file=${path.join(dir, "etc/prometheus/blackbox.yml")}`,
      ]);
      expect(bb.stdout + bb.stderr).toMatch(/Config file is ok/i);
      expect(bb.status).toBe(0);
    });
  }

  it("scrapes every node exporter, the database and Caddy over private addresses, and probes every site", () => {
    const plan = VARIANTS["dedicated monitoring node, internal TLS"]!();
    const mon = plan.nodes.find((n) => n.key === "nodeD")!;
    const cfg = parse(prometheusConfig(plan, mon)) as {
      scrape_configs: {
        job_name: string;
        static_configs: { targets: string[]; labels: Record<string, string> }[];
        params?: { module: string[] };
      }[];
    };
    const job = (j: string) => cfg.scrape_configs.find((s) => s.job_name === j)!;
    expect(
      job("node")
        .static_configs.flatMap((s) => s.targets)
        .sort(),
    ).toEqual(plan.nodes.map((n) => `${n.privateIp}:9100`).sort());
    const a = plan.nodes.find((n) => n.key === "nodeA")!;
    expect(job("postgres").static_configs.flatMap((s) => s.targets)).toEqual([`${a.privateIp}:9187`]);
    expect(job("caddy").static_configs.flatMap((s) => s.targets)).toEqual([`${a.privateIp}:9180`]);
    expect(job("sites").static_configs.map((s) => s.labels.site)).toEqual(a.sites.map((s) => s.hostname));
    expect(job("sites").params!.module).toEqual(["https_internal_ca"]);
    // Prometheus on node D reaches the other nodes' exporters: each admits node D's address to exactly the
    // exporters it runs, and node D, whose exporter only its own Prometheus scrapes (loopback), admits no one.
    const peersOf = (n: (typeof plan.nodes)[number]) =>
      n.hostFirewall.flatMap((r) => (r.from.kind === "peers" ? [[r.port, r.from.peers.map((p) => p.ip)]] : []));
    expect(peersOf(mon)).toEqual([]);
    expect(peersOf(a)).toEqual([
      [9100, [mon.privateIp]],
      [9180, [mon.privateIp]],
      [9187, [mon.privateIp]],
    ]);
    for (const n of plan.nodes.filter((x) => x !== a && x !== mon))
      expect(peersOf(n)).toEqual([[9100, [mon.privateIp]]]);
  });

  it("routes by severity: critical and warning by e-mail, the webhook from its minimum severity, credentials only as files", () => {
    const plan = VARIANTS["tst, e-mail and webhook"]!();
    const text = alertmanagerConfig(plan);
    const am = parse(text) as {
      route: { routes: { matchers: string[]; receiver: string }[] };
      receivers: { name: string }[];
      global: Record<string, unknown>;
    };
    expect(am.route.routes.map((r) => [r.matchers[0], r.receiver])).toEqual([
      ['severity="critical"', "email-webhook"],
      ['severity="warning"', "email-webhook"],
      ['severity="info"', "webhook"],
    ]);
    expect(am.global.smtp_auth_password_file).toBe(
      "/run/credentials/prometheus-alertmanager.service/alert-smtp-password",
    );
    expect(text).toContain("credentials_file: /run/credentials/prometheus-alertmanager.service/alert-webhook-token");
    const none = parse(alertmanagerConfig(planOf("prd"))) as { route: { routes: { receiver: string }[] } };
    expect(none.route.routes.map((r) => r.receiver)).toEqual(["none", "none", "none"]);
  });

  it("keeps every monitoring daemon off public interfaces before and after the bundle", () => {
    for (const s of ["monitoring", "grafana"])
      for (const i of SERVICE_CATALOG[s]!.interfaces) expect(i.class, `${s}/${i.name}`).not.toBe("A");
    const plan = planOf("prd");
    const a = plan.nodes[0]!;
    const defaults = Object.fromEntries(monitoringDefaults(plan, a).map((f) => [f.path, f.content]));
    expect(defaults["/etc/default/prometheus"]).toContain(`--web.listen-address=${a.privateIp}:9090`);
    expect(defaults["/etc/default/prometheus-alertmanager"]).toContain(
      "--web.listen-address=127.0.0.1:9093 --cluster.listen-address=",
    );
    expect(defaults["/etc/default/prometheus-blackbox-exporter"]).toContain("--web.listen-address=127.0.0.1:9115");
    // They are early user-data files: on disk before the packages start the daemons.
    expect(
      nodeFiles(plan, a)
        .filter((f) => f.path.startsWith("/etc/default/prometheus"))
        .every((f) => f.early),
    ).toBe(true);
    // Grafana: tailnet only in the host firewall, nothing in the cloud firewall.
    expect(a.hostFirewall.filter((r) => r.port === 3000).map((r) => r.from.kind)).toEqual(["tailnet"]);
    expect(a.firewall.rules.some((r) => r.port === "3000")).toBe(false);
  });

  it("ships rules, dashboards, backup and recovery tools in the operations bundle, not in user-data", () => {
    const plan = planOf("prd");
    const a = plan.nodes[0]!;
    const ops = opsFiles(plan, a).map((f) => f.path);
    expect(ops).toEqual(
      expect.arrayContaining([
        "/etc/prometheus/rules/xiopro.rules.yml",
        "/var/lib/xiopro/dashboards/overview.json",
        "/usr/local/lib/xiopro/xiopro-restore-drill",
        "/usr/local/lib/xiopro/xiopro-restore",
        "/usr/local/lib/xiopro/xiopro-manifest",
        // The jobs and archive_command need the repository's credentials, delivered after boot too.
        "/usr/local/lib/xiopro/xiopro-backup",
      ]),
    );
    const boot = new Set(nodeFiles(plan, a).map((f) => f.path));
    expect(ops.filter((p) => boot.has(p))).toEqual([]);
  });
});

describe("alert rules", () => {
  const rulesDir = path.join(work, "rules");
  fs.mkdirSync(rulesDir, { recursive: true });
  // promtool test rules compares annotations too; the unit tests are about when alerts fire, so
  // they run on the same rules without annotations (whose templates check rules validates).
  fs.writeFileSync(path.join(rulesDir, "xiopro.rules.yml"), rulesYaml());
  const unannotated = parse(rulesYaml()) as { groups: { rules: { annotations?: unknown }[] }[] };
  for (const g of unannotated.groups) for (const r of g.rules) delete r.annotations;
  fs.writeFileSync(path.join(rulesDir, "xiopro.rules.unannotated.yml"), stringify(unannotated));
  const TEST_FILES = ["alerts.test.yml", "alerts-days.test.yml"];
  for (const f of TEST_FILES) fs.copyFileSync(path.join(ROOT, "test/promtool", f), path.join(rulesDir, f));

  it("pass promtool check rules", () => {
    const out = run("promtool", ["check", "rules", path.join(rulesDir, "xiopro.rules.yml")]);
    expect(out.stdout).toContain(`SUCCESS: ${ALL_ALERTS.length} rules found`);
    expect(out.status).toBe(0);
  });

  it("each has a promtool test where it fires and one where it stays silent", () => {
    const docs = TEST_FILES.map(
      (f) =>
        parse(fs.readFileSync(path.join(rulesDir, f), "utf8")) as {
          tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
        },
    );
    const cases = docs.flatMap((d) => d.tests.flatMap((t) => t.alert_rule_test));
    const missing = ALL_ALERTS.flatMap((a) => {
      const mine = cases.filter((c) => c.alertname === a.alert);
      return [
        ...(mine.some((c) => c.exp_alerts.length > 0) ? [] : [`${a.alert}: no firing case`]),
        ...(mine.some((c) => c.exp_alerts.length === 0) ? [] : [`${a.alert}: no silent case`]),
      ];
    });
    expect(missing).toEqual([]);
    expect(new Set(cases.map((c) => c.alertname))).toEqual(new Set(ALL_ALERTS.map((a) => a.alert)));
  });

  it("pass promtool test rules", () => {
    const files = TEST_FILES.map((f) => {
      const name = f.replace(/\.test\.yml$/, ".unannotated.test.yml");
      fs.writeFileSync(
        path.join(rulesDir, name),
        fs
          .readFileSync(path.join(rulesDir, f), "utf8")
          .replace("  - xiopro.rules.yml", "  - xiopro.rules.unannotated.yml"),
      );
      return name;
    });
    const out = run("promtool", ["test", "rules", ...files], rulesDir);
    expect((out.stdout + out.stderr).match(/SUCCESS/g), out.stdout + out.stderr).toHaveLength(TEST_FILES.length);
    expect(out.stdout + out.stderr).not.toContain("FAILED");
    expect(out.status).toBe(0);
  }, 120_000);

  it("carry a severity the Alertmanager routes know, and backup bounds from the jobs table", () => {
    for (const a of ALL_ALERTS) expect(["info", "warning", "critical"]).toContain(a.severity);
    expect(ALL_ALERTS.find((a) => a.alert === "DatabaseBackupStale")!.expr).toContain("> 93600");
    expect(ALL_ALERTS.find((a) => a.alert === "RestoreDrillStale")!.expr).toContain("> 691200");
  });
});

describe("dashboards", () => {
  it("every panel query parses (promtool check rules on them as recording rules)", () => {
    const file = path.join(work, "dashboard-queries.yml");
    fs.writeFileSync(
      file,
      stringify({
        groups: [
          {
            name: "dashboard",
            rules: OVERVIEW_PANELS.map((p, i) => ({ record: `xiopro:dashboard_query_${i}`, expr: p.expr })),
          },
        ],
      }),
    );
    const out = run("promtool", ["check", "rules", file]);
    expect(out.stdout + out.stderr).toContain(`SUCCESS: ${OVERVIEW_PANELS.length} rules found`);
    expect(out.status).toBe(0);
  });

  it("provisions the overview JSON and the Prometheus data source Grafana reads", () => {
    const plan = planOf("prd");
    const files = Object.fromEntries(monitoringFiles(plan, plan.nodes[0]!).map((f) => [f.path, f.content]));
    const dash = JSON.parse(files["/var/lib/xiopro/dashboards/overview.json"]!) as {
      uid: string;
      panels: { targets: { expr: string; datasource: { uid: string } }[] }[];
    };
    expect(dash.uid).toBe("xiopro-overview-prd");
    expect(dash.panels.map((p) => p.targets[0]!.expr)).toEqual(OVERVIEW_PANELS.map((p) => p.expr));
    const ds = parse(files["/etc/grafana/provisioning/datasources/xiopro.yaml"]!) as {
      datasources: { uid: string; url: string }[];
    };
    expect(dash.panels.every((p) => p.targets[0]!.datasource.uid === ds.datasources[0]!.uid)).toBe(true);
    expect(ds.datasources[0]!.url).toBe(`http://${plan.nodes[0]!.privateIp}:9090`);
    const provider = parse(files["/etc/grafana/provisioning/dashboards/xiopro.yaml"]!) as {
      providers: { options: { path: string } }[];
    };
    expect(provider.providers[0]!.options.path).toBe("/var/lib/xiopro/dashboards");
    expect(files["/var/lib/xiopro/metrics/xiopro_stack.prom"]).toContain(
      `xiopro_stack_monthly_cost_eur{stack="prd",catalog_date="${plan.cost.catalogDate}"} ${plan.cost.monthlyEur}\n`,
    );
  });

  it("the stack cost textfile is valid exposition format (promtool check metrics)", () => {
    const plan = planOf("prd");
    const prom = monitoringFiles(plan, plan.nodes[0]!).find((f) => f.path.endsWith("xiopro_stack.prom"))!.content;
    const out = spawnSync("promtool", ["check", "metrics"], { input: prom, encoding: "utf8" });
    expect(out.stdout + out.stderr).toBe("");
    expect(out.status).toBe(0);
  });
});

// L3: the exporter's extra queries against a real cluster whose archive_command always fails.
describeWithTools(
  "WAL archive metrics from the real PostgreSQL exporter",
  { paths: [PG_ROOT], commands: ["prometheus-postgres-exporter"] },
  () => {
    it("reports pending segments, their age, the failing archive_command and an idle WAL receiver slot", async () => {
      const version = fs
        .readdirSync(PG_ROOT)
        .filter((v) => /^\d+$/.test(v))
        .sort((x, y) => Number(x) - Number(y))
        .pop()!;
      const bin = `${PG_ROOT}/${version}/bin`;
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pg-archive-"));
      fs.chmodSync(tmp, 0o755);
      const asPg = (cmd: string, args: string[]) => run("runuser", ["-u", "postgres", "--", cmd, ...args]);
      const [pgPort, exporterPort] = [await freePort(), await freePort()];
      fs.chownSync(
        tmp,
        Number(run("id", ["-u", "postgres"]).stdout.trim()),
        Number(run("id", ["-g", "postgres"]).stdout.trim()),
      );
      let exporter: ReturnType<typeof spawn> | undefined;
      try {
        expect(asPg(`${bin}/initdb`, ["-D", `${tmp}/data`, "-U", "postgres", "--no-sync"]).status).toBe(0);
        fs.appendFileSync(
          `${tmp}/data/postgresql.conf`,
          `port = ${pgPort}\nlisten_addresses = ''\nunix_socket_directories = '${tmp}'\narchive_mode = on\narchive_command = 'false'\nwal_level = replica\n`,
        );
        const start = asPg(`${bin}/pg_ctl`, ["-D", `${tmp}/data`, "-w", "-l", `${tmp}/log`, "start"]);
        expect(start.status, start.stderr).toBe(0);
        const sql = (q: string) =>
          asPg(`${bin}/psql`, ["-h", tmp, "-p", String(pgPort), "-U", "postgres", "-XAtqc", q]);
        expect(
          sql(
            "CREATE ROLE exporter LOGIN; GRANT pg_monitor TO exporter; CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g",
          ).status,
        ).toBe(0);
        for (let i = 0; i < 3; i++) expect(sql("INSERT INTO t SELECT 1; SELECT pg_switch_wal()").status).toBe(0);
        // archive_command fails and PostgreSQL retries: wait until the failure is recorded.
        for (let i = 0; i < 60 && sql("SELECT failed_count FROM pg_stat_archiver").stdout.trim() === "0"; i++)
          await new Promise((r) => setTimeout(r, 500));
        // A WAL receiver's slot with no receiver on it: the WalReceiverDisconnected condition.
        expect(sql(`SELECT pg_create_physical_replication_slot('${WAL_RECEIVER.slot}', true)`).status).toBe(0);
        // The queries as the node gets them, where the postgres user can read them (CI clones
        // into a private, 0700 directory).
        const queries = path.join(tmp, "queries.yaml");
        const prd = planOf("prd");
        const shipped = nodeFiles(prd, prd.nodes[0]!).find((f) => f.path === PG_EXPORTER_QUERIES)!;
        fs.writeFileSync(queries, shipped.content);
        fs.chmodSync(queries, 0o644);
        exporter = spawn(
          "runuser",
          [
            "-u",
            "postgres",
            "--",
            "prometheus-postgres-exporter",
            `--web.listen-address=127.0.0.1:${exporterPort}`,
            `--extend.query-path=${queries}`,
          ],
          {
            env: {
              ...process.env,
              DATA_SOURCE_NAME: `user=exporter host=${tmp} port=${pgPort} dbname=postgres sslmode=disable`,
            },
            stdio: "ignore",
          },
        );
        let text = "";
        for (let i = 0; i < 60 && !/^xiopro_archive_pending_segments/m.test(text); i++) {
          await new Promise((r) => setTimeout(r, 500));
          text = await fetch(`http://127.0.0.1:${exporterPort}/metrics`).then(
            (r) => r.text(),
            () => "",
          );
        }
        const value = (m: string) => Number(new RegExp(`^${m}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
        expect(value("xiopro_archive_pending_segments")).toBeGreaterThanOrEqual(3);
        expect(value("xiopro_archive_oldest_pending_age_seconds")).toBeGreaterThan(0);
        expect(value("xiopro_archive_failed_count")).toBeGreaterThan(0);
        // The WalArchiveFailing condition: the newest failure is newer than the newest success (none).
        expect(value("xiopro_archive_last_failed_time_seconds")).toBeGreaterThan(
          value("xiopro_archive_last_archived_time_seconds"),
        );
        // The query names the slot the product renders (cloud-init/configs.ts), not a copy of it.
        expect(fs.readFileSync(queries, "utf8")).toContain(`slot_name = '${WAL_RECEIVER.slot}'`);
        expect([value("xiopro_walreceiver_slots"), value("xiopro_walreceiver_active")]).toEqual([1, 0]);
        expect(value("xiopro_walreceiver_retained_bytes")).toBeGreaterThan(0);
      } finally {
        exporter?.kill();
        asPg(`${bin}/pg_ctl`, ["-D", `${tmp}/data`, "-m", "immediate", "-w", "stop"]);
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    }, 120_000);
  },
);
