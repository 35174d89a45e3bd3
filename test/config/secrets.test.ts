// The secret inventory folds the services' declared credentials (infra/catalog/services/*):
// which files a node gets and which units read them follow from the node's services and settings.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../infra/config/load.js";
import { buildPlan, type Plan } from "../../infra/plan/index.js";
import { planOf, stackObject, toRaw } from "../support/helpers.js";

const files = (plan: Plan, i = 0) => plan.nodes[i]!.secrets.map((s) => s.file);
const readers = (plan: Plan, file: string, i = 0) =>
  plan.nodes[i]!.secrets.find((s) => s.file === file)?.grants.map((g) => `${g.unit}:${g.id}`);

describe("the secret inventory", () => {
  it("gives tst's Node A its roles, its repository's keys and no alert secret it does not use", () => {
    const plan = planOf("tst", (c) => (c.monitoring = {}));
    expect(files(plan)).toEqual([
      "pg-role-api",
      "pg-role-worker",
      "pg-role-backup",
      "pg-role-readonly",
      "grafana-admin-password",
      "restic-password",
      "pgbackrest-cipher-pass",
      "repo-s3-access-key",
      "repo-s3-secret-key",
    ]);
    expect(readers(plan, "pg-role-api")).toEqual([
      "xiopro-postgres-roles.service:pg-role-api",
      "agentd-web.service:DATABASE_PASSWORD",
    ]);
    expect(readers(plan, "repo-s3-access-key")).toEqual([
      "postgresql@.service:repo-s3-access-key",
      "xiopro-pgbackrest@.service:repo-s3-access-key",
      "xiopro-restore-drill.service:repo-s3-access-key",
      "xiopro-pgdump.service:repo-s3-access-key",
      "xiopro-files-backup.service:repo-s3-access-key",
      "xiopro-restic-check.service:repo-s3-access-key",
    ]);
  });

  it("follows the settings: an SFTP repository, alert e-mail with a login, a webhook, secret maps", () => {
    const plan = planOf("tst", (c) => {
      c.backup.repository = { kind: "sftp", host: "u1.your-storagebox.de", user: "u1-sub1", path: "/xiopro" };
      c.monitoring = {
        email: { to: ["ops@example.com"], from: "a@example.com", smarthost: "smtp.example.com:587", username: "a" },
        webhook: { url: "https://hooks.example.com/x" },
      };
    });
    expect(files(plan).filter((f) => /^(repo|alert)-/.test(f))).toEqual([
      "alert-smtp-password",
      "alert-webhook-token",
      "repo-sftp-key",
    ]);
    const maps = {
      ...stackObject("tst"),
      providerKeys: { OPENROUTER_API_KEY: "x", A_KEY: "y" },
      webSecrets: { SESSION_SECRET: "z" },
    };
    const loaded = loadConfig(toRaw(maps, ["providerKeys", "webSecrets"]));
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const withMaps = buildPlan(loaded.config, "tst");
    expect(files(withMaps).filter((f) => /^(provider|web)-/.test(f))).toEqual([
      "web-session-secret",
      "provider-a-key",
      "provider-openrouter-api-key",
    ]);
    expect(readers(withMaps, "provider-a-key")).toEqual(["agentd-worker@.service:A_KEY"]);
    expect(withMaps.nodes[0]!.secrets.find((s) => s.file === "web-session-secret")).toMatchObject({
      configKey: "webSecrets",
      configEntry: "SESSION_SECRET",
      description: "web secret SESSION_SECRET (agentd-web)",
    });
  });

  it("grants the WAL receiver's role on both nodes only when a node runs the receiver", () => {
    expect(files(planOf("tst"))).not.toContain("pg-role-walreceiver");
    const plan = planOf("tst", (c) => (c.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] }));
    expect(readers(plan, "pg-role-walreceiver", 0)).toEqual(["xiopro-postgres-roles.service:pg-role-walreceiver"]);
    expect(files(plan, 1)).toEqual(["pg-role-walreceiver"]);
    expect(readers(plan, "pg-role-walreceiver", 1)).toEqual(["xiopro-walreceiver.service:pg-role-walreceiver"]);
  });
});
