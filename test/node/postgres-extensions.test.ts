// setup-postgresql's extension step against a real cluster: the roles step creates what the
// postgresql service's options list (postgresql.env), refuses what is not an extension name, and
// fails loudly when the image lacks the package. pgvector itself is packaged only for Debian 13's
// PostgreSQL 17, which the VM proof boots with the option on; here PostgreSQL contrib stands in.
import * as fs from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PG_NEEDS, TestCluster } from "../../lab/pg-cluster.js";
import { describeWithTools } from "../support/tools.js";

/** The backup role's password as TestCluster delivers it (creds/pg-role-backup). */
const ROLE_PASSWORD = "test-backup-role-pw-5d1c";

describeWithTools("PostgreSQL extensions from the service's options, on a real cluster", PG_NEEDS, () => {
  let c: TestCluster;
  const extensions = () => c.sql("xiopro", "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension");
  const roles = (list: string) => c.asPostgres(c.script("setup-postgresql"), ["roles"], { XIOPRO_PG_EXTENSIONS: list });

  beforeAll(async () => {
    c = new TestCluster("xiopro-extensions-");
    await c.create();
  });
  afterAll(() => c?.destroy());

  it("without the option, the platform database has only plpgsql", () => {
    expect(extensions()).toBe("plpgsql");
  });

  it("creates each listed extension in the platform database, and a re-run changes nothing", () => {
    for (let run = 0; run < 2; run++) {
      const r = roles("pg_trgm,btree_gist");
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain("extension btree_gist ready in xiopro");
    }
    expect(extensions()).toBe("btree_gist,pg_trgm,plpgsql");
    expect(c.sql("postgres", "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")).toBe("0");
  });

  it("refuses a list entry that is not an extension name, and the database stays", () => {
    const r = roles('pg_trgm,x";DROP DATABASE xiopro;--');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('XIOPRO_PG_EXTENSIONS: x";DROP');
    expect(c.sql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'xiopro'")).toBe("1");
  });

  it("leaves no role password in the server's log, even when every statement is logged as slow", () => {
    // log_min_duration_statement logs a statement's text when it is slow (1 s as rendered; a booting
    // node under load took longer): 0 logs every one, as the worst case.
    c.sql("postgres", "ALTER SYSTEM SET log_min_duration_statement = 0");
    c.sql("postgres", "SELECT pg_reload_conf()");
    try {
      const r = roles("");
      expect(r.code, r.stderr).toBe(0);
      const log = fs.readFileSync(c.dir("log/postgresql.log"), "utf8");
      expect(log).toContain("duration:");
      expect(log).not.toContain(ROLE_PASSWORD);
    } finally {
      c.sql("postgres", "ALTER SYSTEM RESET log_min_duration_statement");
      c.sql("postgres", "SELECT pg_reload_conf()");
    }
  });

  it("fails with PostgreSQL's reason when the extension's package is missing (pgvector on this Debian 12 host)", () => {
    const r = roles("vector");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/extension "vector" is not available|could not open extension control file/);
  });
});
