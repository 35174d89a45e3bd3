// Pulumi entry point (Pulumi.yaml `main`). The Node.js language host imports this ES module through
// ts-node's ESM hooks with the project's tsconfig.json, awaits the default export (a promise) and
// records its properties as stack outputs.
import { runProgram } from "./program.js";

export default runProgram();
