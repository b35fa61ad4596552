import { createMemoryTransport } from "../src/index.js";
import { describeConformance } from "./conformance/conformance-suite.js";

describeConformance("memory", () => createMemoryTransport());
