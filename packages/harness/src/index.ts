export * from "./guards.js";
export * from "./network.js";
export * from "./rng.js";
export * from "./scheduler.js";
export * from "./trace.js";
