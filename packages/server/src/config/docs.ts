/**
 * Renders docs/configuration.md from the schema, so the reference cannot drift from the
 * code (test/config/docs.test.ts compares the committed file with this output).
 * Regenerate with `pnpm kalandrad config-docs > docs/configuration.md` followed by
 * `pnpm exec biome format --write docs/configuration.md` (which pads the tables).
 */
import { ENV_PREFIX } from "./load.js";
import { type Field, fields, type SectionName, schema } from "./schema.js";

/** The commented example of `[[federation.peers]]` in the default file. */
const PEER_EXAMPLE = [
  "[[federation.peers]]",
  'domain = "b.example"',
  'url = "wss://hub.b.example:4480/kalandra"',
  'hub_key = "<64 hex digits: the hub_key line kalandrad logs at start>"',
];

function fmt(field: Field): string {
  const d = field.default;
  if (Array.isArray(d)) return `\`[${d.map((x) => JSON.stringify(x)).join(", ")}]\``;
  return `\`${typeof d === "string" ? JSON.stringify(d) : String(d)}\``;
}

function typeText(field: Field): string {
  if (field.type === "enum") return (field.values ?? []).map((v) => `\`"${v}"\``).join(" \\| ");
  if (field.type === "int") {
    const bounds = [
      field.min !== undefined ? `≥ ${field.min}` : "",
      field.max !== undefined ? `≤ ${field.max}` : "",
    ].filter(Boolean);
    return bounds.length > 0 ? `integer (${bounds.join(", ")})` : "integer";
  }
  if (field.type === "address") return '"host:port"';
  if (field.type === "string[]") return "array of strings";
  if (field.type === "peers") return "array of tables";
  return field.type === "bool" ? "boolean" : "string";
}

/** A TOML file holding every default, commented, e.g. for /etc/kalandra/kalandrad.toml. */
export function renderDefaultToml(): string {
  const lines: string[] = [];
  for (const section of Object.keys(schema) as SectionName[]) {
    lines.push(`[${section}]`);
    for (const { key, field } of fields().filter((f) => f.section === section)) {
      lines.push(`# ${field.doc}`);
      if (field.type === "peers") {
        // Tables come last in their section: keys after a [[…]] header would belong to it.
        lines.push(...PEER_EXAMPLE.map((l) => `# ${l}`));
        continue;
      }
      const d = field.default;
      const v = Array.isArray(d)
        ? `[${d.map((x) => JSON.stringify(x)).join(", ")}]`
        : typeof d === "string"
          ? JSON.stringify(d)
          : String(d);
      lines.push(`${key} = ${v}`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

export function renderConfigDocs(): string {
  const out: string[] = [
    "# kalandrad configuration reference",
    "",
    "<!-- Generated from packages/server/src/config/schema.ts by `pnpm kalandrad config-docs`; a test keeps them equal. -->",
    "",
    "kalandrad reads an optional TOML file (`kalandrad start --config FILE`); every key has a",
    "default, so the daemon also runs with no file at all (loopback listener, LMDB in `./data`,",
    "a generated development certificate). Each key can be overridden from the environment as",
    `\`${ENV_PREFIX}<SECTION>__<KEY>\` (upper case, two underscores), e.g.`,
    `\`${ENV_PREFIX}LIMITS__MAX_CONNECTIONS=50\`; arrays are comma-separated there.`,
    "",
    "`kalandrad validate-config --config FILE` checks a file: every problem is printed with its",
    "dotted key and the process exits with status 1. Unknown sections and keys are errors (they",
    "are usually typos). Keys marked _reload_ take effect on `SIGHUP` without a restart; a",
    "changed key that is not reloadable is logged and applies at the next start.",
    "",
  ];
  for (const section of Object.keys(schema) as SectionName[]) {
    out.push(
      `## [${section}]`,
      "",
      "| key | type | default | reload | description |",
      "|---|---|---|---|---|",
    );
    for (const { key, field } of fields().filter((f) => f.section === section)) {
      out.push(
        `| \`${key}\` | ${typeText(field)} | ${fmt(field)} | ${field.reload ? "reload" : ""} | ${field.doc.replaceAll("|", "\\|")} |`,
      );
    }
    out.push("");
  }
  out.push("## The default file", "", "```toml", renderDefaultToml().trimEnd(), "```", "");
  return out.join("\n");
}
