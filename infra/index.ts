// Pulumi entry point (Pulumi.yaml `main`). The Node.js language host loads this file with ts-node
// and the project's tsconfig.json (CommonJS), awaits the exported promise and records its
// properties as stack outputs.
import { runProgram } from "./program";

export = runProgram();
