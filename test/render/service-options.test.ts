// A service's options reach the node through the generic folds: its env file, packages and checks.
import { describe, expect, it } from "vitest";
import { serviceEnv } from "../../cloud-init/configs.js";

describe("a service's env file", () => {
  it("holds plain NAME=word lines, and refuses anything a shell or systemd would read differently", () => {
    expect(serviceEnv("postgresql", [["XIOPRO_X", "a,b"]])).toMatch(/\nXIOPRO_X=a,b\n$/);
    expect(() => serviceEnv("postgresql", [["XIOPRO_X", "a b"]])).toThrow(
      "postgresql: setting XIOPRO_X=a b is not a plain NAME=word line",
    );
    expect(() => serviceEnv("postgresql", [["XIOPRO_X", "$(id)"]])).toThrow("not a plain NAME=word line");
    expect(() => serviceEnv("postgresql", [["lower", "a"]])).toThrow("not a plain NAME=word line");
  });
});
