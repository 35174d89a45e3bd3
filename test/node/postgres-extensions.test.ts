// setup-postgresql's extension step against a real cluster: the roles step creates what the
// postgresql service's options list (postgresql.env), refuses what is not an extension name, and
// fails loudly when the image lacks the package. pgvector itself is packaged only for Debian 13's
// PostgreSQL 17, which the VM proof boots with the option on; here PostgreSQL contrib stands in.
import { afterAll, beforeAll, expect, it } from "vitest";
import { PG_NEEDS, TestCluster } from "../../lab/pg-cluster.js";
import { describeWithTools } from "../support/tools.js";

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

  it("fails with PostgreSQL's reason when the extension's package is missing (pgvector on this Debian 12 host)", () => {
    const r = roles("vector");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/extension "vector" is not available|could not open extension control file/);
  });
});
