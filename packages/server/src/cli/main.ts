#!/usr/bin/env node
/**
 * Entry point of the `kalandrad` bin: the published package's bin is the compiled
 * `dist/cli/main.js`; in the workspace, bin/kalandrad.mjs runs this source through tsx.
 *
 *   kalandrad start [--config FILE]          run the hub (SIGTERM/SIGINT drain, SIGHUP reload)
 *   kalandrad validate-config [--config F]   check a file (+ environment); exit 1 naming each problem
 *   kalandrad version                        print the version
 *   kalandrad gen-dev-cert [--out DIR]       write a development certificate, print its hash
 *   kalandrad admin kick|ban|redact|audit …  moderate a running hub (cli/admin.ts)
 *   kalandrad audit verify [--data DIR]      check the audit log's hash chain
 */
import { buildProgram } from "./program.js";

await buildProgram().parseAsync(process.argv);
