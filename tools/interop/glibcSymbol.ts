/**
 * Makes core-crypto's native library load on glibc 2.36 (Debian 12) by rewriting one
 * imported symbol in the scratch copy (docs/mls-interop.md, "glibc").
 *
 * libcore_crypto_ffi.so 10.3.0 imports `__isoc23_strtol@GLIBC_2.38`, the C23 strtol that
 * glibc 2.38 added (it differs from strtol only in accepting a "0b" prefix under base 0
 * or 2). Older glibc lacks both the symbol and the version, and the dynamic loader refuses
 * the library at dlopen ("version `GLIBC_2.38' not found"). A preloaded shim defining the
 * symbol would not help: the loader checks the version need against libc.so.6 itself. So
 * we edit three fields in place (no section moves, sizes unchanged):
 *   1. the symbol's name offset in .dynsym points at the "strtol" the library already
 *      imports (symbol `strtol@GLIBC_2.2.5`);
 *   2. its .gnu.version entry takes that import's version index;
 *   3. the GLIBC_2.38 entry of .gnu.version_r is marked VER_FLG_WEAK, which glibc's loader
 *      tolerates when absent (dl-version.c, match_symbol).
 * The edit is idempotent and harmless on glibc >= 2.38.
 */
import { readFileSync, writeFileSync } from "node:fs";

const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
const VER_FLG_WEAK = 0x2;
const SYM_SIZE = 24;

export const C23_SYMBOL = "__isoc23_strtol";
const REPLACEMENT = "strtol";
const TOO_NEW_VERSION = "GLIBC_2.38";

interface Section {
  type: number;
  offset: number;
  size: number;
  link: number;
  info: number;
}

export interface PatchReport {
  /** Whether the library imported the C23 symbol (false: nothing to do). */
  rewritten: boolean;
  /** Version needs marked weak. */
  weakened: string[];
}

/** Rewrites `path` (an ELF64 little-endian shared object) in place. */
export function rewriteC23Strtol(path: string): PatchReport {
  const buf = readFileSync(path);
  const report = rewriteC23StrtolBytes(buf);
  if (report.rewritten || report.weakened.length > 0) writeFileSync(path, buf);
  return report;
}

/** The same edit on bytes in memory (mutated in place). */
export function rewriteC23StrtolBytes(buf: Uint8Array): PatchReport {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1)
    throw new Error("not an ELF64 little-endian object");
  const sections = readSections(dv);
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  const versym = sections.find((s) => s.type === SHT_GNU_VERSYM);
  const verneed = sections.find((s) => s.type === SHT_GNU_VERNEED);
  if (dynsym === undefined || versym === undefined || verneed === undefined)
    throw new Error("no .dynsym/.gnu.version/.gnu.version_r");
  const dynstr = sections[dynsym.link];
  if (dynstr === undefined) throw new Error(".dynsym links to no string table");
  const name = (off: number): string => {
    const start = dynstr.offset + off;
    let end = start;
    while (buf[end] !== 0) end++;
    return new TextDecoder("latin1").decode(buf.subarray(start, end));
  };

  let c23: number | undefined;
  let plain: number | undefined;
  for (let i = 0; i < dynsym.size / SYM_SIZE; i++) {
    const n = name(dv.getUint32(dynsym.offset + i * SYM_SIZE, true));
    if (n === C23_SYMBOL) c23 = i;
    else if (n === REPLACEMENT) plain = i;
  }
  const report: PatchReport = { rewritten: false, weakened: [] };
  if (c23 !== undefined) {
    if (plain === undefined) throw new Error(`${C23_SYMBOL} imported but no plain ${REPLACEMENT}`);
    const nameOff = dv.getUint32(dynsym.offset + plain * SYM_SIZE, true);
    dv.setUint32(dynsym.offset + c23 * SYM_SIZE, nameOff, true);
    dv.setUint16(versym.offset + c23 * 2, dv.getUint16(versym.offset + plain * 2, true), true);
    report.rewritten = true;
  }

  // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32;
  // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
  let need = verneed.offset;
  for (let k = 0; k < verneed.info; k++) {
    const count = dv.getUint16(need + 2, true);
    let aux = need + dv.getUint32(need + 8, true);
    for (let j = 0; j < count; j++) {
      const flags = dv.getUint16(aux + 4, true);
      if (name(dv.getUint32(aux + 8, true)) === TOO_NEW_VERSION) {
        if ((flags & VER_FLG_WEAK) === 0) report.weakened.push(TOO_NEW_VERSION);
        dv.setUint16(aux + 4, flags | VER_FLG_WEAK, true);
      }
      aux += dv.getUint32(aux + 12, true);
    }
    need += dv.getUint32(need + 12, true);
  }
  return report;
}

function readSections(dv: DataView): Section[] {
  const shoff = Number(dv.getBigUint64(0x28, true));
  const entsize = dv.getUint16(0x3a, true);
  const count = dv.getUint16(0x3c, true);
  const out: Section[] = [];
  for (let i = 0; i < count; i++) {
    const o = shoff + i * entsize;
    out.push({
      type: dv.getUint32(o + 4, true),
      offset: Number(dv.getBigUint64(o + 24, true)),
      size: Number(dv.getBigUint64(o + 32, true)),
      link: dv.getUint32(o + 40, true),
      info: dv.getUint32(o + 44, true),
    });
  }
  return out;
}
