/** The APP_MESSAGE payload of request `id` in the crash test: checkable after a crash. */
export function crashPayload(id: number): { generation: number; ciphertext: Uint8Array } {
  const ciphertext = new Uint8Array(64 + (id % 97));
  for (let i = 0; i < ciphertext.length; i++) ciphertext[i] = (id * 31 + i) & 0xff;
  return { generation: id, ciphertext };
}
