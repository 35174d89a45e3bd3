// The service descriptors (infra/catalog/services/): one module per service, each registered once,
// and what the node's start lists fold from them.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { nodeEnv } from "../../cloud-init/configs.js";
import type { z } from "zod";
import { docOf } from "../../infra/catalog/schema.js";
import { SERVICE_CATALOG } from "../../infra/catalog/services.js";
import { CONFIG_KEYS } from "../../infra/config/keys.js";
import { planOf, ROOT } from "../support/helpers.js";

const envOf = (text: string) =>
  Object.fromEntries(
    text
      .split("\n")
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).replace(/^"|"$/g, "")]),
  );

describe("the service descriptors", () => {
  it("are one module per service, each registered under its own name", () => {
    const modules = fs
      .readdirSync(path.join(ROOT, "infra/catalog/services"))
      .map((f) => f.replace(/\.ts$/, ""))
      .sort();
    expect(Object.keys(SERVICE_CATALOG).sort()).toEqual(modules);
    for (const [key, spec] of Object.entries(SERVICE_CATALOG)) expect(spec.name).toBe(key);
  });

  it("name files whose templates exist: units under units/ by unit name, anything else at an absolute path", () => {
    const files = Object.values(SERVICE_CATALOG).flatMap((s) =>
      (s.files ?? []).map((f) => ({ service: s.name, ...f })),
    );
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      expect(fs.existsSync(path.join(ROOT, f.template)), `${f.service}: ${f.template}`).toBe(true);
      if (f.template.startsWith("units/")) expect(f.path, f.service).toMatch(/^[a-z0-9@.-]+(\.d\/[a-z0-9-]+\.conf)?$/);
      else expect(f.path, f.service).toMatch(/^\/usr\/local\//);
    }
    // The product's own units a service must keep active or scheduled come with its own files.
    for (const spec of Object.values(SERVICE_CATALOG))
      for (const unit of [...spec.units, ...spec.timers].filter((u) => /^(xiopro|agentd)-/.test(u)))
        expect(
          (spec.files ?? []).map((f) => f.path),
          `${spec.name}: ${unit}`,
        ).toContain(unit);
  });

  it("condition their credentials on settings that are config keys, and on services the catalog knows", () => {
    const conditions = Object.values(SERVICE_CATALOG).flatMap((s) =>
      (s.credentials ?? []).flatMap((c) => [...(c.when ?? []), ...c.grants.flatMap((g) => g.when ?? [])]),
    );
    expect(conditions.length).toBeGreaterThan(5);
    for (const c of conditions) {
      if ("service" in c) {
        expect(Object.keys(SERVICE_CATALOG)).toContain(c.service);
        continue;
      }
      // Walk the config table field by field: a misspelt path would silently never hold.
      let doc = docOf((CONFIG_KEYS as Record<string, z.core.$ZodType>)[c.setting.split(".")[0]!]!);
      for (const part of c.setting.split(".").slice(1)) {
        expect(Object.keys(doc.fields ?? {}), c.setting).toContain(part);
        doc = docOf(doc.fields![part]!);
      }
    }
  });

  it("name the clients of every private-network interface, services the catalog knows, and of no other", () => {
    for (const spec of Object.values(SERVICE_CATALOG))
      for (const i of spec.interfaces) {
        const at = `${spec.name}/${i.name}`;
        if (i.class !== "C") expect(i.clients, at).toBeUndefined();
        else {
          expect(i.clients?.length, `${at} names no client`).toBeGreaterThan(0);
          for (const c of i.clients!) expect(SERVICE_CATALOG[c], `${at}: client ${c}`).toBeDefined();
        }
      }
  });

  it("require and keep apart only services the catalog knows", () => {
    for (const spec of Object.values(SERVICE_CATALOG))
      for (const other of [...(spec.requires ?? []), ...(spec.apartFrom ?? [])])
        expect(SERVICE_CATALOG[other.service], `${spec.name} → ${other.service}`).toBeDefined();
  });

  it("name each scrape job once; a localhost one only on the monitoring service (Prometheus reaches no other node's localhost)", () => {
    const jobs = Object.values(SERVICE_CATALOG).flatMap((s) =>
      s.interfaces.flatMap((i) => (i.scrapeJob ? [{ service: s.name, bind: i.bind, job: i.scrapeJob }] : [])),
    );
    expect(jobs.map((j) => j.job)).toEqual(["node", "caddy", "postgres", "prometheus", "alertmanager", "blackbox"]);
    for (const j of jobs.filter((x) => x.bind === "localhost")) expect(j.service, j.job).toBe("monitoring");
  });

  it("say what starts a unit bootstrap leaves alone only for their own units", () => {
    for (const spec of Object.values(SERVICE_CATALOG))
      for (const unit of Object.keys(spec.startedBy ?? {})) expect(spec.units, spec.name).toContain(unit);
  });

  it("give the node its start lists: started elsewhere left out, package-started units restarted", () => {
    for (const [stack, allowlist] of [
      ["prd", false],
      ["tst", false],
    ] as const) {
      const plan = planOf(stack);
      for (const node of plan.nodes) {
        const env = envOf(nodeEnv(plan, node));
        const enable = env.XIOPRO_ENABLE_UNITS!.split(" ").filter(Boolean);
        const restart = env.XIOPRO_RESTART_UNITS!.split(" ").filter(Boolean);
        for (const unit of ["ssh.service", "postgresql.service", "grafana-server.service"])
          expect(enable, `${node.name} ${unit}`).not.toContain(unit);
        expect(restart).toContain("prometheus-node-exporter.service");
        expect(restart.includes("fail2ban.service")).toBe(allowlist);
        for (const unit of restart) expect(enable).not.toContain(unit);
      }
    }
    // prd Node A, written out: the packages' own units in catalog order, nothing started elsewhere.
    const prd = planOf("prd");
    expect(envOf(nodeEnv(prd, prd.nodes[0]!)).XIOPRO_RESTART_UNITS!.split(" ")).toEqual([
      "prometheus-node-exporter.service",
      "caddy.service",
      "prometheus-postgres-exporter.service",
      "prometheus.service",
      "prometheus-alertmanager.service",
      "prometheus-blackbox-exporter.service",
    ]);
    const withAllowlist = planOf("tst", (c) => (c.adminPath.sshAllowlist = ["198.51.100.7/32"]));
    const env = envOf(nodeEnv(withAllowlist, withAllowlist.nodes[0]!));
    expect(env.XIOPRO_RESTART_UNITS!.split(" ")[0]).toBe("fail2ban.service");
    expect(env.XIOPRO_PACKAGES).toContain("fail2ban python3-systemd");
  });
});
