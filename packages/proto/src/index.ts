export * from "./identity.js";
export * from "./opcodes.js";
export * from "./runtime.js";
