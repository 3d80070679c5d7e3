import { createHash } from 'node:crypto';
import { sha256Hex } from '../src/index';

describe('sha256Hex', () => {
  it('is the SHA-256 of the UTF-8 text as 64 lowercase hex characters', () => {
    // FIPS 180-2 test vectors.
    expect(sha256Hex('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    // Non-ASCII text is hashed as UTF-8 (what a key typed into a keys file is).
    expect(sha256Hex('clé')).toBe(
      createHash('sha256').update(Buffer.from('clé', 'utf8')).digest('hex'),
    );
    expect(sha256Hex('clé')).toMatch(/^[0-9a-f]{64}$/);
  });
});
